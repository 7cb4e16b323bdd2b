//! Shared by the tests: tiny tokenizers trained in-process, the comparison of the fast path
//! with the library, and the corpora it runs on.

#![allow(dead_code)]

use std::io::Write;
use std::str::FromStr;

use serde_json::{json, Value};
use tokenizer::ModelTokenizer;
use tokenizers::models::bpe::BpeTrainer;
use tokenizers::models::TrainerWrapper;
use tokenizers::{AddedToken, OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer, Tokenizer};

pub const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
pub const TRAINING: &str = include_str!("training.txt");
pub const SPECIAL: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Prints past the test harness's capture, so the note shows in `cargo test` output.
pub fn note(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

pub fn byte_level(use_regex: bool) -> Value {
    json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex})
}

pub fn digits(individual: bool) -> Value {
    json!({"type": "Digits", "individual_digits": individual})
}

pub fn split(pattern: &str) -> Value {
    json!({"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": false})
}

pub fn sequence(steps: &[Value]) -> Value {
    json!({"type": "Sequence", "pretokenizers": steps})
}

/// A small byte-level BPE (about 700 tokens) trained on `training.txt` with this pre-tokenizer
/// and normalizer, with the three chat special tokens.
pub fn train(pre_tokenizer: Value, normalizer: Value) -> Tokenizer {
    let empty = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
        "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "vocab": {}, "merges": []}
    });
    let mut tokenizer = Tokenizer::from_str(&empty.to_string()).expect("empty tokenizer");
    let mut trainer: TrainerWrapper = BpeTrainer::builder()
        .vocab_size(700)
        .min_frequency(2)
        .show_progress(false)
        .initial_alphabet(tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet().into_iter().collect())
        .special_tokens(SPECIAL.iter().map(|s| AddedToken::from(*s, true)).collect())
        .build()
        .into();
    tokenizer.train(&mut trainer, TRAINING.lines().map(str::to_string)).expect("training");
    // Through JSON, as a tokenizer.json file would come.
    let json = tokenizer.to_string(false).expect("serialise");
    Tokenizer::from_str(&json).expect("reload")
}

/// The library's byte-level pieces for `text` (its pre-tokenizer only).
pub fn library_pieces(tokenizer: &Tokenizer, text: &str) -> Vec<String> {
    let mut pre = PreTokenizedString::from(text);
    tokenizer.get_pre_tokenizer().expect("a pre-tokenizer").pre_tokenize(&mut pre).expect("pre-tokenize");
    pre.get_splits(OffsetReferential::Original, OffsetType::Byte).into_iter().map(|(s, _, _)| s.to_string()).collect()
}

/// What one comparison found.
#[derive(Debug, Default)]
pub struct Checked {
    pub texts: usize,
    pub tokens: u64,
    pub pieces_compared: usize,
}

/// Checks, for every text: the count (fast path) equals the library's `encode` count, and the
/// fast path's pieces equal the library pre-tokenizer's. Panics on the first difference.
pub fn check_exact(name: &str, counter: &ModelTokenizer, texts: &[String]) -> Checked {
    let mut checked = Checked::default();
    for text in texts {
        let expected = counter.tokenizer().encode(text.as_str(), false).expect("library encode").len();
        let got = counter.try_count(text).expect("fast count");
        assert_eq!(got, expected, "{name}: count differs for {text:?}");
        // Twice: the second count comes from the cache.
        assert_eq!(counter.try_count(text).expect("fast count"), expected, "{name}: cached count differs for {text:?}");
        if let Some(pieces) = counter.fast_pieces(text) {
            assert_eq!(pieces, library_pieces(counter.tokenizer(), text), "{name}: pieces differ for {text:?}");
            checked.pieces_compared += 1;
        }
        checked.texts += 1;
        checked.tokens += expected as u64;
    }
    checked
}

/// Hand-picked texts: every branch of the split pattern and its neighbours.
pub fn fixed_texts() -> Vec<String> {
    let fixed = [
        "",
        " ",
        "  ",
        "a",
        "Hello, World!",
        "Hello world! The year 2024 was great.",
        "  leading and trailing spaces  ",
        "multiple   internal    spaces",
        "tabs\tand\nnewlines\r\nmixed",
        "a \t b",
        " \n ",
        "\n\n\nx",
        "x\n\n",
        "line one\n\nline two\n",
        "I'm sure they'll say it's fine, don't you think? We've seen it. She'd go. I'M LOUD.",
        "'s 't 're 've 'm 'll 'd",
        "'S 'T 'RE 'LL",
        "''s ''' 'x '",
        "' s",
        "l'l a'b 'lll 'ree",
        "rock 'n' roll, O'Brien's cat's toy",
        "don’t (curly apostrophe)",
        "!'s ?'re",
        "12345",
        " 123",
        "a1b2c3",
        "3.14159 and 2,718 and 1,000,000",
        "x  1",
        "x \t2",
        "version v1.2.3-rc4",
        "٣٤٥ Arabic-Indic digits",
        "１２３ fullwidth digits",
        "Ⅻ roman, ² superscript, ½ fraction, 𝟘𝟙 math digits, ⑦ circled",
        "你好，世界！这是一个测试。",
        "我有3个苹果和12只猫。",
        "日本語のテキストとカタカナ ー",
        "한국어 텍스트입니다",
        "Россия и Україна",
        "مرحبا بالعالم",
        "नमस्ते दुनिया",
        "ภาษาไทย",
        "שלום עולם",
        "Café naïve résumé façade Ångström",
        "e\u{301} combining, \u{301}leading combining",
        "Emoji: 😀👍🏽🇺🇸 and ❤️ 👨‍👩‍👧",
        "©®™ €$£¥ ±×÷",
        "zero\u{200b}width and\u{a0}nbsp and\u{3000}ideographic space",
        "line\u{2028}separator\u{85}next line\u{2029}para",
        "\u{feff}bom",
        "\u{0}\u{1}\u{7f} control \u{1b}[31mred\u{1b}[0m",
        "private \u{e000} nonchar \u{fffe} last \u{10ffff}",
        "def foo(x):\n    return x ** 2  # comment\n",
        "fn main() {\n\tlet v: Vec<u8> = vec![1, 2, 3];\n}\n",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
        "<div class=\"a\">x</div> https://example.com/a?b=1&c=2 user@example.com",
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>",
        "text with <|endoftext|> inside",
        "<|im_start partial <| im_end |>",
        "Apples are りんご 林檎",
        "ABC123def456",
        "**bold** _italic_ `code` # Heading\n- item\n> quote",
        "    indented code\n        more",
        "trailing newline\n",
        "\r\n\r\n",
    ];
    let mut texts: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
    texts.push("a".repeat(1000));
    texts.push(format!("{}x", " ".repeat(100)));
    texts.push("!?".repeat(200));
    texts.push("汉字".repeat(300));
    texts.push("1234567890".repeat(50));
    texts.push(format!("{}end", "\n ".repeat(40)));
    texts.push(TRAINING.to_string());
    texts.extend(TRAINING.lines().map(str::to_string));
    texts
}

/// SplitMix64: a deterministic generator, so a failure names a reproducible seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Building blocks of the generated strings: characters and fragments from every class of the
/// split pattern and of `Digits`, the contractions, and whitespace of every kind.
const ATOMS: &[&str] = &[
    "a",
    "Z",
    "é",
    "ß",
    "中",
    "文",
    "の",
    "ア",
    "한",
    "я",
    "ع",
    "न",
    "\u{94d}",
    "\u{301}",
    "ก",
    "0",
    "7",
    "٣",
    "１",
    "Ⅻ",
    "²",
    "½",
    "𝟘",
    " ",
    " ",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "\u{85}",
    "\u{b}",
    "\u{c}",
    "\u{200b}",
    "'",
    "'s",
    "'t",
    "'re",
    "'ve",
    "'m",
    "'ll",
    "'d",
    "'S",
    "'l",
    "'r",
    "’",
    ".",
    ",",
    "!",
    "?",
    "-",
    "_",
    "(",
    ")",
    "{",
    "}",
    "<",
    ">",
    "/",
    "\\",
    "\"",
    "#",
    "$",
    "%",
    "€",
    "©",
    "😀",
    "👍🏽",
    "\u{200d}",
    "🇺🇸",
    "\u{fe0f}",
    "\u{0}",
    "\u{1b}",
    "\u{e000}",
    "the",
    " the",
    "ing",
    "tion",
    "你好",
    "，",
    "。",
    "！",
    "123",
    " 42",
    "x1",
    "<|im_end|>",
    "<|",
    "|>",
];

/// `count` strings of 0 to 40 atoms.
pub fn generated_texts(seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let atoms = rng.below(41);
            (0..atoms).map(|_| ATOMS[rng.below(ATOMS.len())]).collect()
        })
        .collect()
}

/// `count` strings of 1 to 12 Unicode scalar values drawn from the whole range (half of them
/// near ASCII and the BMP, where the classes change most), mixed with spaces and digits.
pub fn random_code_point_texts(seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let len = 1 + rng.below(12);
            (0..len)
                .map(|_| {
                    if rng.below(5) == 0 {
                        return [' ', '1', '\n', '\''][rng.below(4)];
                    }
                    let range = match rng.below(4) {
                        0 => 0x80,
                        1 => 0x3000,
                        2 => 0x10000,
                        _ => 0x11_0000,
                    };
                    char::from_u32(rng.below(range) as u32).unwrap_or(' ')
                })
                .collect()
        })
        .collect()
}

/// Chat-like lines: words, numbers and punctuation as a dataset would have them.
pub fn chat_like_texts(seed: u64, count: usize) -> Vec<String> {
    let words: Vec<&str> = TRAINING.split_whitespace().collect();
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let mut text = String::new();
            for i in 0..(1 + rng.below(60)) {
                if i > 0 {
                    text.push_str([" ", " ", " ", " ", "  ", "\n", "\n\n", ", ", ". "][rng.below(9)]);
                }
                match rng.below(10) {
                    0 => text.push_str(&rng.below(100_000).to_string()),
                    _ => text.push_str(words[rng.below(words.len())]),
                }
            }
            text
        })
        .collect()
}

/// Everything above, about 16,000 texts.
pub fn corpus() -> Vec<String> {
    let mut texts = fixed_texts();
    texts.extend(chat_like_texts(1, 2000));
    texts.extend(generated_texts(2, 10_000));
    texts.extend(random_code_point_texts(3, 4000));
    texts
}
