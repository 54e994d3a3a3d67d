//! Message content: words drawn from the [`Vocabulary`] by a Zipf law over ranks (exponent
//! [`WORD_ZIPF`]), 1-40 words (log-normal, median [`LENGTH_MEDIAN`]), [`LONG_SHARE`] of
//! messages long (41-300 words in short paragraphs), with occasional capitals, commas, end
//! punctuation and emoji. Always valid for the application: trimmed, no control characters but
//! `\n`, at most 5,000 characters.

use crate::rng::Rng;
use crate::vocab::Vocabulary;
use crate::zipf::Zipf;

/// Zipf exponent of word frequencies (natural language is close to 1).
pub const WORD_ZIPF: f64 = 1.07;
/// Median words in a regular message, and the log-normal sigma.
pub const LENGTH_MEDIAN: f64 = 6.0;
pub const LENGTH_SIGMA: f64 = 0.75;
/// The longest regular message.
pub const MAX_REGULAR_WORDS: u64 = 40;
/// Share of long messages, and their word range.
pub const LONG_SHARE: f64 = 0.005;
pub const LONG_WORDS: (u64, u64) = (41, 300);

const EMOJI: &[&str] = &["😂", "👍", "❤️", "🙂", "🎉", "🙏", "😅", "🔥"];
/// Stay well under the 5,000-character limit whatever the words.
const MAX_CHARS: usize = 4800;

/// Generates message texts.
#[derive(Debug, Clone)]
pub struct TextGenerator {
    vocabulary: Vocabulary,
    zipf: Zipf,
}

impl TextGenerator {
    pub fn new(vocabulary: Vocabulary) -> Self {
        let zipf = Zipf::new(vocabulary.len(), WORD_ZIPF);
        Self { vocabulary, zipf }
    }

    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    /// Writes one message into `out` (cleared first) and the ranks of its words into `ranks`
    /// (cleared first, in order, with repetitions).
    pub fn message(&self, rng: &mut Rng, out: &mut String, ranks: &mut Vec<u32>) {
        out.clear();
        ranks.clear();
        let long = rng.chance(LONG_SHARE);
        let words = if long {
            rng.between(LONG_WORDS.0, LONG_WORDS.1)
        } else {
            ((LENGTH_MEDIAN.ln() + LENGTH_SIGMA * rng.normal()).exp().round() as u64).clamp(1, MAX_REGULAR_WORDS)
        };
        let capitalize = rng.chance(0.3);
        let mut paragraph = 0u64;
        for i in 0..words {
            if out.len() > MAX_CHARS {
                break;
            }
            let rank = self.zipf.sample(rng);
            ranks.push(rank as u32);
            if i > 0 {
                // Long messages come in paragraphs of 20-60 words.
                if long && paragraph >= 20 && rng.chance(1.0 / 40.0) {
                    out.push_str(".\n");
                    paragraph = 0;
                } else if rng.chance(0.04) {
                    out.push_str(", ");
                } else {
                    out.push(' ');
                }
            }
            paragraph += 1;
            let word = self.vocabulary.word(rank);
            if i == 0 && capitalize {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push_str(word);
            }
        }
        match rng.below(100) {
            0..12 => out.push('?'),
            12..20 => out.push('!'),
            20..35 => out.push('.'),
            35..38 => out.push_str("..."),
            _ => {}
        }
        if rng.chance(0.03) {
            out.push(' ');
            out.push_str(EMOJI[rng.below(EMOJI.len() as u64) as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    #[test]
    fn messages_are_valid_and_word_counts_match() {
        let generator = TextGenerator::new(Vocabulary::new(20_000, 42));
        let mut rng = Rng::new(42, Stream::Content);
        let (mut out, mut ranks) = (String::new(), Vec::new());
        let mut total_words = 0;
        let mut long = 0;
        for _ in 0..20_000 {
            generator.message(&mut rng, &mut out, &mut ranks);
            assert!(!ranks.is_empty());
            assert_eq!(out.trim(), out);
            assert!(out.chars().count() <= 5000);
            assert!(out.chars().all(|c| !c.is_control() || c == '\n'));
            total_words += ranks.len();
            long += usize::from(ranks.len() > 40);
        }
        let mean = total_words as f64 / 20_000.0;
        assert!((6.0..12.0).contains(&mean), "mean words {mean}");
        assert!((40..200).contains(&long), "long messages {long}");
    }
}
