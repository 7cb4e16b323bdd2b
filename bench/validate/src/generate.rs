//! A deterministic generator of mixed English/Chinese chat JSONL: `{"messages": [system?,
//! user, assistant, …]}` lines of varied length. Words come from a vocabulary of several
//! thousand English forms (base words with inflections, capitalised, names, identifiers) and a
//! few hundred common Chinese characters combined into words, drawn with Zipf-like frequencies,
//! plus numbers, prices, dates, code blocks, lists and punctuation: realistic variety, so a
//! per-piece cache is not flattered by repetition.

use std::io::{self, Write};

/// Roughly frequency-ordered common English words.
const ENGLISH: &str = "the of and to a in is it you that he was for on are with as his they be at one have this from or had by \
hot word but what some we can out other were all there when up use your how said an each she which do their time if will way \
about many then them write would like so these her long make thing see him two has look more day could go come did number \
sound no most people my over know water than call first who may down side been now find any new work part take get place \
made live where after back little only round man year came show every good me give our under name very through just form \
sentence great think say help low line differ turn cause much mean before move right boy old too same tell does set three \
want air well also play small end put home read hand port large spell add even land here must big high such follow act why \
ask men change went light kind off need house picture try us again animal point mother world near build self earth father \
head stand own page should country found answer school grow study still learn plant cover food sun four between state keep \
eye never last let thought city tree cross farm hard start might story saw far sea draw left late run while press close \
night real life few north open seem together next white children begin got walk example ease paper group always music those \
both mark often letter until mile river car feet care second book carry took science eat room friend began idea fish \
mountain stop once base hear horse cut sure watch color face wood main enough plain girl usual young ready above ever red \
list though feel talk bird soon body dog family direct pose leave song measure door product black short numeral class wind \
question happen complete ship area half rock order fire south problem piece told knew pass since top whole king space heard \
best hour better true during hundred five remember step early hold west ground interest reach fast verb sing listen six \
table travel less morning ten simple several vowel toward war lay against pattern slow center love person money serve \
appear road map rain rule govern pull cold notice voice unit power town fine certain fly fall lead cry dark machine note \
wait plan figure star box noun field rest correct able pound done beauty drive stood contain front teach week final gave \
green oh quick develop ocean warm free minute strong special mind behind clear tail produce fact street inch multiply \
nothing course stay wheel full force blue object decide surface deep moon island foot system busy test record boat common \
gold possible plane stead dry wonder laugh thousand ago ran check game shape equate miss brought heat snow tire bring yes \
distant fill east paint language among grand ball yet wave drop heart present heavy dance engine position arm wide sail \
material size vary settle speak weight general ice matter circle pair include divide syllable felt perhaps pick sudden \
count square reason length represent art subject region energy hunt probable bed brother egg ride cell believe fraction \
forest sit race window store summer train sleep prove lone exercise wall catch mount wish sky board joy winter sat written \
wild instrument kept glass grass cow job edge sign visit past soft fun bright gas weather month million bear finish happy \
hope flower clothe strange gone jump baby eight village meet root buy raise solve metal whether push seven paragraph third \
shall held hair describe cook floor either result burn hill safe cat century consider type law bit coast copy phrase silent \
tall sand soil roll temperature finger industry value fight lie beat excite natural view sense ear else quite broke case \
middle kill son lake moment scale loud spring observe child straight consonant nation dictionary milk speed method organ \
pay age section dress cloud surprise quiet stone tiny climb cool design poor lot experiment bottom key iron single stick \
flat twenty skin smile crease hole trade melody trip office receive row mouth exact symbol die least trouble shout except \
wrote seed tone join suggest clean break lady yard rise bad blow oil blood touch grew cent mix team wire cost lost brown \
wear garden equal sent choose fell fit flow fair bank collect save control decimal gentle woman captain practice separate \
difficult doctor please protect noon whose locate ring character insect caught period indicate radio spoke atom human \
history effect electric expect crop modern element hit student corner party supply bone rail imagine provide agree thus \
capital chair danger fruit rich thick soldier process operate guess necessary sharp wing create neighbor wash bat rather \
crowd corn compare poem string bell depend meat rub tube famous dollar stream fear sight thin triangle planet hurry chief \
colony clock mine tie enter major fresh search send yellow gun allow print dead spot desert suit current lift rose continue \
block chart hat sell success company subtract event particular deal swim term opposite wife shoe shoulder spread arrange \
camp invent cotton born determine quart nine truck noise level chance gather shop stretch throw shine property column \
molecule select wrong gray repeat require broad prepare salt nose plural anger claim continent oxygen sugar death pretty \
skill women season solution magnet silver thank branch match suffix especially fig afraid huge sister steel discuss forward \
similar guide experience score apple bought led pitch coat mass card band rope slip win dream evening condition feed tool \
total basic smell valley nor double seat arrive master track parent shore division sheet substance favor connect post \
spend chord fat glad original share station dad bread charge proper bar offer segment slave duck instant market degree \
populate chick dear enemy reply drink occur support speech nature range steam motion path liquid log meant quotient teeth \
shell neck model data training dataset token tokenizer server cluster memory network python function variable error \
request response answer prompt assistant user message account password customer invoice budget schedule meeting report \
analysis feature release version update install configure deploy database query table index cache latency throughput \
accuracy benchmark evaluation metric loss gradient layer weight batch epoch learning rate optimizer checkpoint inference";

/// Suffixes that turn base words into other forms ("train" → "trains", "training", …).
const SUFFIXES: &[&str] = &["s", "ed", "ing", "er", "ly", "ness", "ment", "able", "ers", "est", "ful", "less", "ization", "ive"];

/// Common Chinese characters, roughly by frequency.
const CHINESE: &str = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还\
发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给\
等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活\
难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论\
百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派\
满式李息写呢识极令黄德收脸钱党倒未持音送据模型训练数据问题答案用户助手系统文件服务器网络时间计划报告";

const SYLLABLES: &[&str] = &[
    "ka", "ri", "mo", "len", "tha", "vo", "an", "el", "is", "dor", "mar", "bel", "sa", "ton", "fi", "ne", "lu", "ra", "gar", "wen", "ost",
    "pe", "qui", "zan", "ber", "li", "ca", "do", "ven", "tor",
];

/// SplitMix64, so every run writes the same bytes.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Draws indexes 0..n with probability proportional to 1/(rank+1).
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|i| {
                total += 1.0 / (i as f64 + 1.0);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn draw(&self, rng: &mut Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        self.cumulative.partition_point(|&c| c < x).min(self.cumulative.len() - 1)
    }
}

/// Writes chat records.
pub struct Generator {
    rng: Rng,
    english: Vec<String>,
    english_zipf: Zipf,
    chinese: Vec<String>,
    chinese_zipf: Zipf,
    names: Vec<String>,
    system_prompts: Vec<String>,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let mut rng = Rng::new(seed);
        let base: Vec<&str> = ENGLISH.split_whitespace().collect();
        // Base words in their order, then inflected forms of them (rarer), then a long tail of
        // compound words: a few thousand forms in all.
        let mut english: Vec<String> = base.iter().map(|w| w.to_string()).collect();
        for (i, word) in base.iter().enumerate() {
            let suffix = SUFFIXES[i % SUFFIXES.len()];
            english.push(format!("{word}{suffix}"));
            if i % 3 == 0 {
                english.push(format!("{word}{}", SUFFIXES[(i / 3 + 5) % SUFFIXES.len()]));
            }
        }
        for _ in 0..1500 {
            let (a, b) = (rng.pick(&base), rng.pick(&base));
            english.push(if rng.chance(50) { format!("{a}{b}") } else { format!("{a}-{b}") });
        }
        let english_zipf = Zipf::new(english.len());
        let chars: Vec<char> = CHINESE.chars().collect();
        let char_zipf = Zipf::new(chars.len());
        // Single characters first (the most frequent), then two- and three-character words.
        let chinese: Vec<String> = (0..3000)
            .map(|i| {
                let len = if i < 400 { 1 } else { 2 + rng.below(2) };
                (0..len).map(|_| chars[char_zipf.draw(&mut rng)]).collect()
            })
            .collect();
        let chinese_zipf = Zipf::new(chinese.len());
        let names = (0..400)
            .map(|_| {
                let mut name: String = (0..2 + rng.below(2)).map(|_| rng.pick(SYLLABLES)).collect();
                name[..1].make_ascii_uppercase();
                name
            })
            .collect();
        let mut generator = Generator { rng, english, english_zipf, chinese, chinese_zipf, names, system_prompts: Vec::new() };
        generator.system_prompts =
            (0..40).map(|i| if i % 4 == 3 { generator.chinese_paragraph(2) } else { generator.english_paragraph(2) }).collect();
        generator
    }

    fn english_word(&mut self) -> String {
        let rng = &mut self.rng;
        match rng.below(100) {
            0..=2 => self.names[rng.below(self.names.len())].clone(),
            3..=5 => number(rng),
            _ => self.english[self.english_zipf.draw(rng)].clone(),
        }
    }

    fn english_sentence(&mut self) -> String {
        let words = 4 + self.rng.below(18);
        let mut s = String::new();
        for i in 0..words {
            let mut word = self.english_word();
            if i == 0 {
                capitalise(&mut word);
            } else {
                s.push(' ');
                if self.rng.chance(3) {
                    capitalise(&mut word);
                }
            }
            s.push_str(&word);
            if i + 1 < words && self.rng.chance(8) {
                s.push_str(self.rng.pick(&[",", ",", ";", ":", " -", "'s", "n't"]));
            }
        }
        s.push_str(self.rng.pick(&[".", ".", ".", ".", "?", "!", "...", ":"]));
        s
    }

    fn english_paragraph(&mut self, max_sentences: usize) -> String {
        let sentences = 1 + self.rng.below(max_sentences);
        (0..sentences).map(|_| self.english_sentence()).collect::<Vec<_>>().join(" ")
    }

    fn chinese_sentence(&mut self) -> String {
        let clauses = 1 + self.rng.below(3);
        let mut s = String::new();
        for c in 0..clauses {
            for _ in 0..2 + self.rng.below(6) {
                match self.rng.below(100) {
                    0..=3 => s.push_str(&number(&mut self.rng)),
                    4..=6 => {
                        let word = self.english[self.english_zipf.draw(&mut self.rng)].clone();
                        s.push(' ');
                        s.push_str(&word);
                        s.push(' ');
                    }
                    _ => s.push_str(&self.chinese[self.chinese_zipf.draw(&mut self.rng)]),
                }
            }
            s.push_str(if c + 1 < clauses {
                self.rng.pick(&["，", "，", "、", "；"])
            } else {
                self.rng.pick(&["。", "。", "？", "！"])
            });
        }
        s
    }

    fn chinese_paragraph(&mut self, max_sentences: usize) -> String {
        let sentences = 1 + self.rng.below(max_sentences);
        (0..sentences).map(|_| self.chinese_sentence()).collect()
    }

    fn code_block(&mut self) -> String {
        let name = self.english[self.rng.below(300)].clone();
        let arg = self.english[self.rng.below(600)].clone();
        let n = number(&mut self.rng);
        match self.rng.below(3) {
            0 => format!(
                "```python\ndef {name}_{arg}({arg}):\n    \"\"\"{}\"\"\"\n    if {arg} > {n}:\n        return {arg} * 2\n    return [{arg}, {n}]\n```",
                self.english_sentence()
            ),
            1 => format!("```rust\nfn {name}({arg}: u32) -> u32 {{\n    // {}\n    {arg}.saturating_add({n})\n}}\n```", self.english_sentence()),
            _ => format!("```json\n{{\"{name}\": {n}, \"{arg}\": \"{}\"}}\n```", self.english_word()),
        }
    }

    fn list(&mut self, chinese: bool) -> String {
        let numbered = self.rng.chance(50);
        (0..2 + self.rng.below(4))
            .map(|i| {
                let item = if chinese { self.chinese_sentence() } else { self.english_sentence() };
                if numbered {
                    format!("{}. {item}", i + 1)
                } else {
                    format!("- {item}")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// An answer: paragraphs, sometimes a list or a code block.
    fn answer(&mut self, chinese: bool) -> String {
        let blocks = 1 + self.rng.below(4);
        let mut parts = Vec::with_capacity(blocks);
        for _ in 0..blocks {
            parts.push(match self.rng.below(10) {
                0 => self.list(chinese),
                1 if !chinese || self.rng.chance(30) => self.code_block(),
                _ if chinese => self.chinese_paragraph(4),
                _ => self.english_paragraph(5),
            });
        }
        parts.join("\n\n")
    }

    fn question(&mut self, chinese: bool) -> String {
        let mut q = if chinese { self.chinese_paragraph(2) } else { self.english_paragraph(2) };
        if self.rng.chance(15) {
            q.push_str("\n\n");
            q.push_str(&self.code_block());
        }
        q
    }

    /// One JSONL line (with its newline).
    pub fn record(&mut self, line: &mut String) {
        let kind = self.rng.below(10);
        let (user_chinese, assistant_chinese) = match kind {
            0 | 1 => (true, true),
            2 => (false, true),
            _ => (false, false),
        };
        let mut messages: Vec<(&str, String)> = Vec::new();
        if self.rng.chance(40) {
            let system = if self.rng.chance(80) {
                self.system_prompts[self.rng.below(self.system_prompts.len())].clone()
            } else {
                self.english_paragraph(3)
            };
            messages.push(("system", system));
        }
        for _ in 0..1 + self.rng.below(3) {
            messages.push(("user", self.question(user_chinese)));
            messages.push(("assistant", self.answer(assistant_chinese)));
        }
        line.clear();
        line.push_str("{\"messages\": [");
        for (i, (role, content)) in messages.iter().enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            line.push_str("{\"role\": \"");
            line.push_str(role);
            line.push_str("\", \"content\": ");
            json_string(content, line);
            line.push('}');
        }
        line.push_str("]}\n");
    }

    /// Writes records until at least `bytes` bytes are written; returns (records, bytes).
    pub fn write(&mut self, out: &mut impl Write, bytes: u64) -> io::Result<(u64, u64)> {
        let mut line = String::new();
        let (mut records, mut written) = (0u64, 0u64);
        while written < bytes {
            self.record(&mut line);
            out.write_all(line.as_bytes())?;
            records += 1;
            written += line.len() as u64;
        }
        Ok((records, written))
    }
}

fn capitalise(word: &mut str) {
    if let Some(first) = word.get_mut(..1) {
        first.make_ascii_uppercase();
    }
}

fn number(rng: &mut Rng) -> String {
    match rng.below(6) {
        0 => rng.below(10).to_string(),
        1 => rng.below(100).to_string(),
        2 => format!("{}", 1900 + rng.below(130)),
        3 => format!("${}.{:02}", rng.below(500), rng.below(100)),
        4 => format!("{}.{}%", rng.below(100), rng.below(10)),
        _ => format!("{}", rng.below(1_000_000)),
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
