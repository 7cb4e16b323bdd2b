//! Evaluation metrics, each matching its reference implementation exactly (the tests compare
//! against figures the reference computed, kept as fixtures): corpus and sentence BLEU as
//! sacreBLEU computes them (its `13a` tokenizer, brevity penalty against the closest reference,
//! `exp` smoothing); chrF and chrF++ as sacreBLEU computes them; ROUGE-N, ROUGE-L and
//! ROUGE-Lsum as Google's `rouge-score` computes them; exact match and token F1 as the SQuAD
//! v1.1 script does; accuracy, micro/macro precision, recall and F1, and AUC-ROC as
//! scikit-learn does; `suite` scores examples by metric name, per example and with bootstrap
//! confidence intervals; `significance` compares two systems (paired bootstrap, approximate
//! randomization, effect size, sample size); `agreement` measures raters' agreement
//! (Krippendorff's alpha as the `krippendorff` package, Cohen's kappa as scikit-learn). Pure
//! functions: no I/O, but for reading a WordNet folder when one is named (`wordnet::load`, for
//! METEOR's synonym stage).

pub mod agreement;
mod bleu;
mod chrf;
mod classification;
mod diversity;
mod fxhash;
mod meteor;
mod ngrams;
pub mod parallel;
mod porter;
mod rouge;
pub mod significance;
mod squad;
pub mod suite;
mod tokenize;
pub mod wordnet;

pub use bleu::{corpus_bleu, corpus_bleu_with, sentence_bleu, sentence_bleu_with, Bleu, BleuStats, BleuTokenizer};
pub use chrf::Chrf;
pub use classification::{auc_roc, classification, Classification};
pub use diversity::{distinct_n, self_bleu};
pub use meteor::{meteor, meteor_words, single_meteor};
pub use porter::porter_stem;
pub use rouge::{rouge_all, rouge_all_with, rouge_l, rouge_lsum, rouge_n, rouge_tokenize, rouge_tokenize_with, RougeOptions, RougeScore};
pub use squad::{exact_match, token_f1};
pub use tokenize::{tokenize_13a, tokenize_zh};
