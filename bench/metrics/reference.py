"""The Python reference side of bench/metrics: reads the generated pairs and prints, as one JSON
object, each metric's score and the seconds it took, computed as its reference package does
(sacreBLEU 2.5.1, Google rouge-score 0.1.2 with and without its stemmer, NLTK 3.10's METEOR with
no WordNet on sacreBLEU's 13a words, and with WordNet 3.0 on the `wn` pairs, the SQuAD v1.1
script, scikit-learn). Timing covers the scoring only: imports, reading the file and loading
WordNet's index are excluded (NLTK reads synsets on first use, as it would in any run).

Usage: python reference.py PAIRS.jsonl WORDNET_DIR
"""
import collections
import json
import os
import re
import shutil
import string
import sys
import tempfile
import time

import nltk
from nltk.corpus.reader.wordnet import WordNetCorpusReader

import sacrebleu
from nltk.translate.meteor_score import meteor_score
from rouge_score import rouge_scorer
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from sklearn.metrics import accuracy_score, precision_recall_fscore_support, roc_auc_score


def normalize_answer(s):
    s = s.lower()
    s = ''.join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r'\b(a|an|the)\b', ' ', s)
    return ' '.join(s.split())


def squad_f1(prediction, truth):
    p, t = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(p) & collections.Counter(t)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(t)
    return 2 * precision * recall / (precision + recall)


class NoWordNet:
    """METEOR's exact and stem stages only (the metrics crate has no WordNet)."""

    def synsets(self, word):
        return []


class WordNet(WordNetCorpusReader):
    """NLTK's reader on a WordNet 3.0 folder (Debian's lacks `lexnames`, which only names
    synsets' lexicographer files: a copy gets WordNet 3.0's list); no OMW mapping."""

    LEXNAMES = ("adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
                "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
                "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
                "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
                "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
                "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
                "adj.ppl").split()

    def __init__(self, source):
        root = tempfile.mkdtemp()
        for name in os.listdir(source):
            shutil.copy(os.path.join(source, name), os.path.join(root, name))
        with open(os.path.join(root, 'lexnames'), 'w') as f:
            f.writelines(f'{i:02d}\t{n}\t0\n' for i, n in enumerate(self.LEXNAMES))
        nltk.data.path.append(root)
        super().__init__(root, None)

    def map_wn(self, version='wordnet'):
        return None


def distinct(texts, n):
    grams = [tuple(t[i:i + n]) for t in (x.split() for x in texts) for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def main():
    rows = [json.loads(line) for line in open(sys.argv[1], encoding='utf-8')]
    en = [r for r in rows if r['lang'] == 'en']
    zh = [r for r in rows if r['lang'] == 'zh']
    wn = [r for r in rows if r['lang'] == 'wn']
    wordnet = WordNet(sys.argv[2])
    hyp, ref = [r['prediction'] for r in en], [r['reference'] for r in en]
    zh_hyp, zh_ref = [r['prediction'] for r in zh], [r['reference'] for r in zh]
    labels, predicted = [r['label'] for r in en], [r['predicted_label'] for r in en]
    positive, score = [r['positive'] for r in en], [r['score'] for r in en]
    out = {}

    def timed(name, f):
        start = time.perf_counter()
        value = f()
        out[name] = {'score': value, 'seconds': time.perf_counter() - start}

    timed('bleu', lambda: sacrebleu.metrics.BLEU().corpus_score(hyp, [ref]).score)
    timed('bleu_zh', lambda: sacrebleu.metrics.BLEU(tokenize='zh').corpus_score(zh_hyp, [zh_ref]).score)
    timed('chrf', lambda: sacrebleu.metrics.CHRF().corpus_score(hyp, [ref]).score)
    timed('chrf++', lambda: sacrebleu.metrics.CHRF(word_order=2).corpus_score(hyp, [ref]).score)

    def rouge(stem):
        scorer = rouge_scorer.RougeScorer(['rouge1', 'rouge2', 'rougeL', 'rougeLsum'], use_stemmer=stem)
        sums = collections.defaultdict(float)
        for h, r in zip(hyp, ref):
            for k, v in scorer.score(r, h).items():
                sums[k] += v.fmeasure
        return {k: 100 * v / len(hyp) for k, v in sums.items()}

    timed('rouge', lambda: rouge(False))
    timed('rouge_stem', lambda: rouge(True))

    def meteor():
        words, no_wordnet = Tokenizer13a(), NoWordNet()
        return 100 * sum(meteor_score([words(r).split()], words(h).split(), wordnet=no_wordnet) for h, r in zip(hyp, ref)) / len(hyp)

    timed('meteor', meteor)

    def meteor_wordnet():
        words = Tokenizer13a()
        return 100 * sum(meteor_score([words(r['reference']).split()], words(r['prediction']).split(), wordnet=wordnet) for r in wn) / len(wn)

    timed('meteor+wn', meteor_wordnet)
    timed('exact_match', lambda: 100 * sum(float(normalize_answer(h) == normalize_answer(r)) for h, r in zip(hyp, ref)) / len(hyp))
    timed('f1', lambda: 100 * sum(squad_f1(h, r) for h, r in zip(hyp, ref)) / len(hyp))
    timed('accuracy', lambda: 100 * accuracy_score(labels, predicted))
    timed('macro_f1', lambda: 100 * precision_recall_fscore_support(labels, predicted, average='macro', zero_division=0)[2])
    timed('auc_roc', lambda: roc_auc_score(positive, score))
    timed('distinct-2', lambda: distinct(hyp, 2))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
