//! Evaluation metrics, each matching its reference implementation exactly (the tests compare
//! against figures the reference computed, kept as fixtures): corpus and sentence BLEU as
//! sacreBLEU computes them (its `13a` tokenizer, brevity penalty against the closest reference,
//! `exp` smoothing). Pure functions: no I/O.

mod bleu;
mod tokenize;

pub use bleu::{corpus_bleu, sentence_bleu, Bleu};
pub use tokenize::tokenize_13a;
