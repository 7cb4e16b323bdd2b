//! The Porter stemmer as NLTK's `PorterStemmer()` computes it in its default mode
//! (`NLTK_EXTENSIONS`: irregular forms, `ies`/`ied` on short words, `y → i` only after a
//! consonant that is not the whole stem, `alli`, `bli`, `fulli`, `logi`, the two-letter `*o`),
//! which `rouge-score` (`use_stemmer=True`) and NLTK's METEOR use. Words are lower-cased as
//! Python's `str.lower()` does; positions count Unicode scalar values as Python indexes strings.

/// NLTK's irregular forms: the word and its stem.
const IRREGULAR: [(&str, &str); 16] = [
    ("sky", "sky"),
    ("skies", "sky"),
    ("dying", "die"),
    ("lying", "lie"),
    ("tying", "tie"),
    ("news", "news"),
    ("innings", "inning"),
    ("inning", "inning"),
    ("outings", "outing"),
    ("outing", "outing"),
    ("cannings", "canning"),
    ("canning", "canning"),
    ("howe", "howe"),
    ("proceed", "proceed"),
    ("exceed", "exceed"),
    ("succeed", "succeed"),
];

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u')
}

/// Whether each letter is a consonant: not a vowel, and a `y` only at the start or after a
/// vowel.
fn consonants(w: &[char]) -> Vec<bool> {
    let mut flags: Vec<bool> = Vec::with_capacity(w.len());
    for (i, &c) in w.iter().enumerate() {
        let flag = if is_vowel(c) {
            false
        } else if c == 'y' {
            i == 0 || !flags[i - 1]
        } else {
            true
        };
        flags.push(flag);
    }
    flags
}

fn is_consonant(w: &[char], i: usize) -> bool {
    consonants(&w[..=i])[i]
}

/// The measure m of `[C](VC){m}[V]`.
fn measure(w: &[char]) -> usize {
    let flags = consonants(w);
    flags.windows(2).filter(|p| !p[0] && p[1]).count()
}

fn contains_vowel(w: &[char]) -> bool {
    consonants(w).iter().any(|c| !c)
}

fn ends_double_consonant(w: &[char]) -> bool {
    let n = w.len();
    n >= 2 && w[n - 1] == w[n - 2] && is_consonant(w, n - 1)
}

/// `*o`: ends consonant-vowel-consonant, the last not w, x or y (or, NLTK's extension, is a
/// two-letter vowel-consonant word).
fn ends_cvc(w: &[char]) -> bool {
    let n = w.len();
    let flags = consonants(w);
    (n >= 3 && flags[n - 3] && !flags[n - 2] && flags[n - 1] && !matches!(w[n - 1], 'w' | 'x' | 'y')) || (n == 2 && !flags[0] && flags[1])
}

fn ends_with(w: &[char], suffix: &str) -> bool {
    let s: Vec<char> = suffix.chars().collect();
    w.len() >= s.len() && w[w.len() - s.len()..] == s[..]
}

fn strip<'a>(w: &'a [char], suffix: &str) -> &'a [char] {
    &w[..w.len() - suffix.chars().count()]
}

fn join(stem: &[char], tail: &str) -> Vec<char> {
    stem.iter().copied().chain(tail.chars()).collect()
}

/// A rule's condition on the stem left once its suffix is removed.
type Condition<'a> = &'a dyn Fn(&[char]) -> bool;

/// The first rule whose suffix the word ends with decides: its replacement if the condition
/// holds, else the word unchanged.
fn apply_rules(w: &[char], rules: &[(&str, &str, Option<Condition>)]) -> Vec<char> {
    for (suffix, replacement, condition) in rules {
        if ends_with(w, suffix) {
            let stem = strip(w, suffix);
            return if condition.is_none_or(|c| c(stem)) { join(stem, replacement) } else { w.to_vec() };
        }
    }
    w.to_vec()
}

fn positive(stem: &[char]) -> bool {
    measure(stem) > 0
}

fn step1a(w: &[char]) -> Vec<char> {
    if w.len() == 4 && ends_with(w, "ies") {
        return join(strip(w, "ies"), "ie");
    }
    apply_rules(w, &[("sses", "ss", None), ("ies", "i", None), ("ss", "ss", None), ("s", "", None)])
}

fn step1b(w: &[char]) -> Vec<char> {
    if ends_with(w, "ied") {
        return join(strip(w, "ied"), if w.len() == 4 { "ie" } else { "i" });
    }
    if ends_with(w, "eed") {
        let stem = strip(w, "eed");
        return if measure(stem) > 0 { join(stem, "ee") } else { w.to_vec() };
    }
    let Some(stem) = ["ed", "ing"].iter().filter(|s| ends_with(w, s)).map(|s| strip(w, s)).find(|stem| contains_vowel(stem)) else {
        return w.to_vec();
    };
    for (suffix, replacement) in [("at", "ate"), ("bl", "ble"), ("iz", "ize")] {
        if ends_with(stem, suffix) {
            return join(strip(stem, suffix), replacement);
        }
    }
    if ends_double_consonant(stem) {
        let last = stem[stem.len() - 1];
        return if matches!(last, 'l' | 's' | 'z') { stem.to_vec() } else { stem[..stem.len() - 1].to_vec() };
    }
    if measure(stem) == 1 && ends_cvc(stem) {
        return join(stem, "e");
    }
    stem.to_vec()
}

fn step1c(w: &[char]) -> Vec<char> {
    apply_rules(w, &[("y", "i", Some(&|stem: &[char]| stem.len() > 1 && is_consonant(stem, stem.len() - 1)))])
}

fn step2(w: &[char]) -> Vec<char> {
    if ends_with(w, "alli") && positive(strip(w, "alli")) {
        return step2(&join(strip(w, "alli"), "al"));
    }
    let word = w.to_vec();
    let logi = move |_: &[char]| positive(&word[..word.len() - 3]);
    let p: Option<Condition> = Some(&positive);
    apply_rules(
        w,
        &[
            ("ational", "ate", p),
            ("tional", "tion", p),
            ("enci", "ence", p),
            ("anci", "ance", p),
            ("izer", "ize", p),
            ("bli", "ble", p),
            ("alli", "al", p),
            ("entli", "ent", p),
            ("eli", "e", p),
            ("ousli", "ous", p),
            ("ization", "ize", p),
            ("ation", "ate", p),
            ("ator", "ate", p),
            ("alism", "al", p),
            ("iveness", "ive", p),
            ("fulness", "ful", p),
            ("ousness", "ous", p),
            ("aliti", "al", p),
            ("iviti", "ive", p),
            ("biliti", "ble", p),
            ("fulli", "ful", p),
            ("logi", "log", Some(&logi)),
        ],
    )
}

fn step3(w: &[char]) -> Vec<char> {
    let p: Option<Condition> = Some(&positive);
    apply_rules(
        w,
        &[("icate", "ic", p), ("ative", "", p), ("alize", "al", p), ("iciti", "ic", p), ("ical", "ic", p), ("ful", "", p), ("ness", "", p)],
    )
}

fn step4(w: &[char]) -> Vec<char> {
    let above_one = |stem: &[char]| measure(stem) > 1;
    let ion = |stem: &[char]| measure(stem) > 1 && matches!(stem.last(), Some('s' | 't'));
    let m: Option<Condition> = Some(&above_one);
    apply_rules(
        w,
        &[
            ("al", "", m),
            ("ance", "", m),
            ("ence", "", m),
            ("er", "", m),
            ("ic", "", m),
            ("able", "", m),
            ("ible", "", m),
            ("ant", "", m),
            ("ement", "", m),
            ("ment", "", m),
            ("ent", "", m),
            ("ion", "", Some(&ion)),
            ("ou", "", m),
            ("ism", "", m),
            ("ate", "", m),
            ("iti", "", m),
            ("ous", "", m),
            ("ive", "", m),
            ("ize", "", m),
        ],
    )
}

fn step5a(w: &[char]) -> Vec<char> {
    if ends_with(w, "e") {
        let stem = strip(w, "e");
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    w.to_vec()
}

fn step5b(w: &[char]) -> Vec<char> {
    if ends_with(w, "ll") && measure(&w[..w.len() - 1]) > 1 {
        return w[..w.len() - 1].to_vec();
    }
    w.to_vec()
}

/// Words stemmed per thread (emptied when full): texts repeat their words.
const MEMO_SIZE: usize = 1 << 16;

thread_local! {
    static MEMO: std::cell::RefCell<crate::fxhash::FxHashMap<String, String>> = Default::default();
}

/// The stem of `word` (lower-cased first).
pub fn porter_stem(word: &str) -> String {
    MEMO.with(|memo| {
        if let Some(stem) = memo.borrow().get(word) {
            return stem.clone();
        }
        let stem = stem_of(word);
        let mut memo = memo.borrow_mut();
        if memo.len() >= MEMO_SIZE {
            memo.clear();
        }
        memo.insert(word.to_string(), stem.clone());
        stem
    })
}

fn stem_of(word: &str) -> String {
    let lower = if word.is_ascii() { word.to_ascii_lowercase() } else { word.to_lowercase() };
    if let Some((_, stem)) = IRREGULAR.iter().find(|(w, _)| *w == lower) {
        return stem.to_string();
    }
    if word.chars().count() <= 2 {
        return lower;
    }
    let w: Vec<char> = lower.chars().collect();
    let w = step5b(&step5a(&step4(&step3(&step2(&step1c(&step1b(&step1a(&w))))))));
    w.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_examples_stem_as_nltk_does() {
        for (word, stem) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cats", "cat"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("filing", "file"),
            ("happy", "happi"),
            ("enjoy", "enjoy"),
            ("relational", "relat"),
            ("conditional", "condit"),
            ("generalization", "gener"),
            ("controlling", "control"),
            ("skies", "sky"),
            ("dying", "die"),
            ("succeed", "succeed"),
            ("by", "by"),
        ] {
            assert_eq!(porter_stem(word), stem, "{word}");
        }
    }
}
