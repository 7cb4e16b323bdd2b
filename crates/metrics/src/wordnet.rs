//! WordNet 3.0 as NLTK 3.10's `WordNetCorpusReader` reads it, for METEOR's synonym stage: the
//! lemma index (`index.{noun,verb,adj,adv}`), each synset's lemma names (`data.*`), the
//! exception lists (`*.exc`) and NLTK's `_morphy` (the word itself, or its exception forms, or
//! one application of the suffix rules — kept where the index has them). A folder in WordNet's
//! own layout (`dict/`, or Debian's `/usr/share/wordnet` from `wordnet-base`) is read whole,
//! once per process ([`load`]); a synset is found by the offset its line starts with, so a
//! subset of the files (a test fixture) reads the same as the whole.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// A part of speech's suffix rules (NLTK's `MORPHOLOGICAL_SUBSTITUTIONS`): (ending, replacement).
type Rules = &'static [(&'static str, &'static str)];

/// Parts of speech in NLTK's `POS_LIST` order (noun, verb, adjective, adverb): file suffix, rules.
const PARTS: [(&str, Rules); 4] = [
    (
        "noun",
        &[("s", ""), ("ses", "s"), ("ves", "f"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"), ("men", "man"), ("ies", "y")],
    ),
    ("verb", &[("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")]),
    ("adj", &[("er", ""), ("est", ""), ("er", "e"), ("est", "e")]),
    ("adv", &[]),
];

/// One part of speech: lemma → synset offsets, offset → lemma names, form → exception forms.
#[derive(Default)]
struct Part {
    index: HashMap<String, Vec<u32>>,
    synsets: HashMap<u32, Vec<String>>,
    exceptions: HashMap<String, Vec<String>>,
}

/// A loaded WordNet database.
pub struct WordNet {
    parts: Vec<Part>,
    /// What it is, for results: `WordNet 3.0` (from the data files' header) and a SHA-256 of the
    /// files read, so a result says which database gave its synonyms.
    pub version: String,
    pub sha256: String,
    pub dir: PathBuf,
}

impl std::fmt::Debug for WordNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, sha256 {})", self.version, self.dir.display(), &self.sha256[..12])
    }
}

impl PartialEq for WordNet {
    fn eq(&self, other: &WordNet) -> bool {
        self.sha256 == other.sha256
    }
}

impl Eq for WordNet {}

/// The database in `dir`, read on first use and kept for the life of the process (one per
/// folder): evaluations and the CLI score many texts with it.
pub fn load(dir: &Path) -> Result<&'static WordNet, String> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, &'static WordNet>>> = OnceLock::new();
    let key = dir.canonicalize().map_err(|e| format!("WordNet folder {}: {e}", dir.display()))?;
    let mut loaded = LOADED.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(w) = loaded.get(&key) {
        return Ok(w);
    }
    let w: &'static WordNet = Box::leak(Box::new(WordNet::read(&key)?));
    loaded.insert(key, w);
    Ok(w)
}

impl WordNet {
    /// Reads the twelve files NLTK reads for synsets and morphology; an error names the file
    /// and line.
    pub fn read(dir: &Path) -> Result<WordNet, String> {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        let mut version = None;
        let mut parts = Vec::with_capacity(PARTS.len());
        for (suffix, _) in PARTS {
            let mut part = Part::default();
            let mut read = |name: String| -> Result<String, String> {
                let bytes = std::fs::read(dir.join(&name)).map_err(|e| format!("WordNet {}: {e}", dir.join(&name).display()))?;
                hash.update(name.as_bytes());
                hash.update((bytes.len() as u64).to_le_bytes());
                hash.update(&bytes);
                String::from_utf8(bytes).map_err(|_| format!("WordNet {}: not UTF-8", dir.join(&name).display()))
            };
            let index = read(format!("index.{suffix}"))?;
            for (i, line) in index.lines().enumerate() {
                if line.starts_with(' ') || line.trim().is_empty() {
                    continue;
                }
                let (lemma, offsets) = index_line(line).map_err(|e| format!("WordNet index.{suffix} line {}: {e}", i + 1))?;
                part.index.insert(lemma, offsets);
            }
            let data = read(format!("data.{suffix}"))?;
            for (i, line) in data.lines().enumerate() {
                if line.starts_with(' ') {
                    if version.is_none() {
                        version = copyright_version(line);
                    }
                    continue;
                }
                if line.trim().is_empty() {
                    continue;
                }
                let (offset, names) = data_line(line).map_err(|e| format!("WordNet data.{suffix} line {}: {e}", i + 1))?;
                part.synsets.insert(offset, names);
            }
            let exceptions = read(format!("{suffix}.exc"))?;
            for line in exceptions.lines() {
                let mut terms = line.split_whitespace();
                if let Some(form) = terms.next() {
                    part.exceptions.insert(form.to_string(), terms.map(str::to_string).collect());
                }
            }
            parts.push(part);
        }
        let version = version.ok_or_else(|| format!("WordNet {}: no 'WordNet N.N Copyright' line in the data files", dir.display()))?;
        let sha256 = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(WordNet { parts, version, sha256, dir: dir.to_path_buf() })
    }

    /// NLTK's `_morphy(form, pos)`: the exception forms of `form` if it has any, else one
    /// application of the part's suffix rules; `form` first, then those, kept where the index
    /// has them, each once.
    fn morphy<'a>(&self, part: usize, form: &'a str) -> Vec<std::borrow::Cow<'a, str>> {
        use std::borrow::Cow;
        let p = &self.parts[part];
        let mut forms: Vec<Cow<'a, str>> = vec![Cow::Borrowed(form)];
        match p.exceptions.get(form) {
            Some(exceptions) => forms.extend(exceptions.iter().map(|e| Cow::Owned(e.clone()))),
            None => forms.extend(
                PARTS[part].1.iter().filter_map(|(old, new)| form.strip_suffix(old).map(|stem| Cow::Owned(format!("{stem}{new}")))),
            ),
        }
        let mut seen = HashSet::new();
        forms.retain(|f| p.index.contains_key(f.as_ref()) && seen.insert(f.clone()));
        forms
    }

    /// What METEOR's synonym stage matches a hypothesis word with: the names (without `_`) of
    /// every lemma of every synset NLTK's `wordnet.synsets(word)` gives, and the word itself.
    pub fn synonyms(&self, word: &str) -> HashSet<String> {
        let lower = word.to_lowercase();
        let mut out = HashSet::new();
        for part in 0..self.parts.len() {
            let p = &self.parts[part];
            for form in self.morphy(part, &lower) {
                for offset in &p.index[form.as_ref()] {
                    if let Some(names) = p.synsets.get(offset) {
                        out.extend(names.iter().filter(|n| !n.contains('_')).cloned());
                    }
                }
            }
        }
        out.insert(word.to_string());
        out
    }
}

/// `lemma pos synset_cnt p_cnt [ptr_symbol…] sense_cnt tagsense_cnt offset…`.
fn index_line(line: &str) -> Result<(String, Vec<u32>), String> {
    let mut t = line.split_whitespace();
    let mut next = |what: &str| t.next().ok_or_else(|| format!("ends before its {what}"));
    let lemma = next("lemma")?.to_string();
    next("part of speech")?;
    let count = |s: &str, what: &str| s.parse::<usize>().map_err(|_| format!("{what} '{s}' is not a number"));
    let synsets = count(next("synset count")?, "synset count")?;
    let pointers = count(next("pointer count")?, "pointer count")?;
    for _ in 0..pointers {
        next("pointer symbols")?;
    }
    let senses = count(next("sense count")?, "sense count")?;
    if senses != synsets || synsets == 0 {
        return Err(format!("{synsets} synsets but {senses} senses"));
    }
    next("tagged sense count")?;
    let offsets = (0..synsets)
        .map(|_| next("synset offsets").and_then(|s| s.parse::<u32>().map_err(|_| format!("offset '{s}' is not a number"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((lemma, offsets))
}

/// `offset lex_filenum ss_type w_cnt(hex) word lex_id …`: the offset and the lemma names, each
/// without its syntactic marker (`(a)`, `(p)`, `(ip)`), as NLTK's `_synset_from_pos_and_line`.
fn data_line(line: &str) -> Result<(u32, Vec<String>), String> {
    let mut t = line.split('|').next().unwrap_or_default().split_whitespace();
    let mut next = |what: &str| t.next().ok_or_else(|| format!("ends before its {what}"));
    let offset = next("offset")?;
    let offset = offset.parse::<u32>().map_err(|_| format!("offset '{offset}' is not a number"))?;
    next("lexicographer file")?;
    next("synset type")?;
    let words = next("word count")?;
    let words = usize::from_str_radix(words, 16).map_err(|_| format!("word count '{words}' is not hexadecimal"))?;
    let mut names = Vec::with_capacity(words);
    for _ in 0..words {
        let name = next("words")?;
        next("lexical ids")?;
        let name = match name.strip_suffix(')').and_then(|n| n.rfind('(').map(|i| (n, i))) {
            Some((n, i)) if !n[i + 1..].contains(['(', ')']) => &name[..i],
            _ => name,
        };
        names.push(name.to_string());
    }
    Ok((offset, names))
}

/// `WordNet 3.0` from the license header's `WordNet 3.0 Copyright …` line.
fn copyright_version(line: &str) -> Option<String> {
    let at = line.find("WordNet ")?;
    let rest = &line[at + "WordNet ".len()..];
    let number: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '+').collect();
    (!number.is_empty() && rest[number.len()..].trim_start().starts_with("Copyright")).then(|| format!("WordNet {number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_line_gives_lemma_names_without_markers() {
        let (offset, names) = data_line("00001740 00 a 02 able 0 big(a) 0 000 | hello").unwrap();
        assert_eq!(offset, 1740);
        assert_eq!(names, ["able", "big"]);
        assert!(data_line("00001740 00 a 03 able 0").unwrap_err().contains("words"));
        let (lemma, offsets) = index_line("dog n 2 1 @ 2 1 02084071 10114209  ").unwrap();
        assert_eq!((lemma.as_str(), offsets), ("dog", vec![2084071, 10114209]));
        assert!(index_line("dog n 2 1 @ 3 1 02084071 10114209").unwrap_err().contains("senses"));
        assert_eq!(copyright_version("  1 This software and database is being provided to you, the LICENSEE, by  "), None);
        assert_eq!(
            copyright_version("  14 WordNet 3.0 Copyright 2006 by Princeton University.  All rights reserved.  "),
            Some("WordNet 3.0".into())
        );
    }
}
