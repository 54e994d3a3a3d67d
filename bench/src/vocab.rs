//! The message vocabulary: about 20,000 words ranked by frequency, for a Zipf distribution.
//!
//! Ranks 1..[`HEAD`]`.len()` are everyday chat words, PostgreSQL `english` stopwords ("the", "you")
//! mixed with very common non-stopwords ("ok", "thanks", "good", "know", "time"), which are the
//! ones a full-text search can actually match. After them, generated pseudo-words fill the ranks,
//! with [`TYPICAL`] English words ("meeting", "tomorrow", "coffee") placed every
//! [`TYPICAL_STRIDE`] ranks and [`RARE`] ones ("kayak", "origami") every [`RARE_STRIDE`] ranks
//! further down, so searches have real words at every frequency.
//!
//! No two words share a PostgreSQL `english` stem (the lists avoid inflections of one another,
//! and pseudo-words end in `a`, `o` or `u`, which the Snowball stemmer leaves alone), so a
//! word's document frequency in the generated data is the document frequency of its lexeme.

use std::collections::HashSet;

use crate::rng::{Rng, Stream};

/// The most frequent words, in rank order.
#[rustfmt::skip]
pub const HEAD: &[&str] = &[
    "i", "you", "the", "to", "ok", "a", "and", "it", "is", "thanks", "that", "good", "me", "yeah", "know", "in",
    "for", "time", "we", "like", "have", "get", "lol", "what", "think", "so", "see", "just", "on", "sure", "can",
    "no", "be", "my", "will", "do", "want", "now", "go", "great", "are", "this", "with", "but", "not", "was", "all",
    "your", "well", "really", "how", "need", "of", "back", "one", "at", "got", "right", "hey", "if", "today", "day",
    "let", "people", "work", "still", "make", "night", "he", "she", "home", "tonight", "here", "love", "yes", "there",
    "would", "could", "maybe", "about", "when", "they", "come", "take", "call", "sorry", "thing", "much", "also",
    "way", "said", "nice", "first", "something", "tell", "look", "last", "week", "new", "fine", "cool", "awesome",
    "done", "later", "soon", "guy", "feel", "hope", "next", "long", "little", "text", "send", "free", "wait", "talk",
    "happy", "place", "actually", "bit", "morning", "stuff", "pretty", "around", "problem", "help", "start",
    "already", "from", "up", "out", "or", "did", "had", "were", "been", "an", "by", "as", "some", "too", "very",
    "more", "than", "then", "why", "where", "who", "which", "again", "over", "any", "us", "him", "her", "off", "down",
    "only", "should", "them", "our",
];

/// Everyday nouns, placed among the pseudo-words every [`TYPICAL_STRIDE`] ranks after the head:
/// each is in roughly 0.05-0.5% of messages at the default size.
#[rustfmt::skip]
pub const TYPICAL: &[&str] = &[
    "meeting", "tomorrow", "coffee", "dinner", "lunch", "weekend", "project", "movie", "birthday", "flight", "doctor",
    "office", "party", "game", "beer", "pizza", "train", "traffic", "weather", "rain", "ticket", "hotel", "trip",
    "beach", "concert", "restaurant", "breakfast", "email", "phone", "car", "bus", "airport", "gym", "report",
    "deadline", "client", "budget", "presentation", "schedule", "manager", "interview", "salary", "apartment", "rent",
    "kitchen", "garden", "dog", "cat", "baby", "kids", "school", "class", "exam", "homework", "teacher", "library",
    "book", "music", "song", "guitar", "football", "soccer", "basketball", "match", "team", "score", "holiday",
    "vacation", "christmas", "summer", "winter", "spring", "autumn", "snow", "sunny", "island", "mountain", "river",
    "lake", "park", "museum", "gallery", "shopping", "grocery", "bread", "cheese", "chocolate", "wine", "tea", "cake",
    "sandwich", "salad", "soup", "chicken", "pasta", "rice", "burger", "recipe", "laptop", "computer", "password",
    "update", "website", "server", "database", "camera", "photo", "picture", "video", "podcast", "netflix", "series",
    "episode", "season", "invoice", "contract", "hospital", "dentist", "medicine", "insurance", "bank", "money",
    "wallet", "keys", "door", "window", "bike", "taxi", "ferry", "bridge", "city", "village", "friend", "family",
    "sister", "brother", "mom", "dad", "wedding", "gift",
];

/// Uncommon words, placed every [`RARE_STRIDE`] ranks from [`RARE_START`]: each is in well under
/// 0.05% of messages (selective searches).
#[rustfmt::skip]
pub const RARE: &[&str] = &[
    "hippopotamus", "kayak", "origami", "saxophone", "telescope", "volcano", "submarine", "lighthouse", "harpsichord",
    "accordion", "avalanche", "blizzard", "cathedral", "chandelier", "dinosaur", "eclipse", "flamingo", "glacier",
    "hammock", "iceberg", "jellyfish", "kangaroo", "labyrinth", "meteorite", "narwhal", "octopus", "pelican",
    "quokka", "rhubarb", "scarecrow", "trampoline", "ukulele", "vinyl", "walrus", "xylophone", "yodel", "zeppelin",
    "armadillo", "bagpipes", "cactus", "dumpling", "espresso", "falafel", "gondola", "hazelnut", "igloo", "jukebox",
    "kimono", "lasagna", "marmalade", "nutmeg", "oregano", "pistachio", "quiche", "risotto", "sushi", "tiramisu",
    "umbrella", "vanilla", "wasabi",
];

/// PostgreSQL's `english` text search stopwords (`tsearch_data/english.stop`): never indexed.
#[rustfmt::skip]
pub const POSTGRES_ENGLISH_STOPWORDS: &[&str] = &[
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself", "yourselves",
    "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself", "they", "them", "their",
    "theirs", "themselves", "what", "which", "who", "whom", "this", "that", "these", "those", "am", "is", "are",
    "was", "were", "be", "been", "being", "have", "has", "had", "having", "do", "does", "did", "doing", "a", "an",
    "the", "and", "but", "if", "or", "because", "as", "until", "while", "of", "at", "by", "for", "with", "about",
    "against", "between", "into", "through", "during", "before", "after", "above", "below", "to", "from", "up",
    "down", "in", "out", "on", "off", "over", "under", "again", "further", "then", "once", "here", "there", "when",
    "where", "why", "how", "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor",
    "not", "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don", "should",
    "now",
];

/// The distance between typical words, the first of which comes right after the head.
pub const TYPICAL_STRIDE: usize = 6;
/// The rank (0-based) of the first rare word.
pub const RARE_START: usize = 1500;
/// The distance between rare words.
pub const RARE_STRIDE: usize = 150;

/// What a vocabulary entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordKind {
    /// An English word PostgreSQL drops from `tsvector`s.
    Stopword,
    /// An English word that is indexed.
    English,
    /// A generated word.
    Pseudo,
}

/// Words in rank order (most frequent first).
#[derive(Debug, Clone)]
pub struct Vocabulary {
    words: Vec<String>,
    kinds: Vec<WordKind>,
}

impl Vocabulary {
    /// `size` words (at least the English ones), the pseudo-words drawn from `seed`.
    pub fn new(size: usize, seed: u64) -> Self {
        let stopwords: HashSet<&str> = POSTGRES_ENGLISH_STOPWORDS.iter().copied().collect();
        let english: HashSet<&str> = HEAD.iter().chain(TYPICAL).chain(RARE).copied().collect();
        let size = size.max(RARE_START + RARE_STRIDE * RARE.len());
        let mut rng = Rng::new(seed, Stream::Vocabulary);
        let mut seen: HashSet<String> = english.iter().map(|w| (*w).to_owned()).collect();
        let mut pseudo = std::iter::from_fn(|| {
            loop {
                let word = pseudo_word(&mut rng);
                if seen.insert(word.clone()) {
                    return Some(word);
                }
            }
        });

        let mut typical = TYPICAL.iter();
        let mut rare = RARE.iter();
        let mut words = Vec::with_capacity(size);
        let mut kinds = Vec::with_capacity(size);
        for &w in HEAD {
            words.push(w.to_owned());
            kinds.push(if stopwords.contains(w) { WordKind::Stopword } else { WordKind::English });
        }
        while words.len() < size {
            let rank = words.len();
            let placed =
                (rank - HEAD.len()).is_multiple_of(TYPICAL_STRIDE).then(|| typical.next()).flatten().or_else(|| {
                    (rank >= RARE_START && (rank - RARE_START).is_multiple_of(RARE_STRIDE))
                        .then(|| rare.next())
                        .flatten()
                });
            match placed {
                Some(&w) => {
                    words.push(w.to_owned());
                    kinds.push(WordKind::English);
                }
                None => {
                    words.push(pseudo.next().unwrap_or_default());
                    kinds.push(WordKind::Pseudo);
                }
            }
        }
        Self { words, kinds }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    pub fn word(&self, rank: usize) -> &str {
        &self.words[rank]
    }

    pub fn kind(&self, rank: usize) -> WordKind {
        self.kinds[rank]
    }
}

const CONSONANTS: &[&str] = &["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "ch"];
const INNER_VOWELS: &[&str] = &["a", "e", "i", "o", "u"];
/// Endings the Snowball English stemmer never strips.
const FINAL_VOWELS: &[&str] = &["a", "o", "u"];

/// Two to four consonant-vowel syllables, ending in `a`, `o` or `u`.
fn pseudo_word(rng: &mut Rng) -> String {
    let syllables = match rng.below(10) {
        0 => 2,
        1..=6 => 3,
        _ => 4,
    };
    let mut word = String::with_capacity(syllables * 3);
    for i in 0..syllables {
        word.push_str(CONSONANTS[rng.below(CONSONANTS.len() as u64) as usize]);
        let vowels = if i + 1 == syllables { FINAL_VOWELS } else { INNER_VOWELS };
        word.push_str(vowels[rng.below(vowels.len() as u64) as usize]);
    }
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_are_unique_and_place_the_english_words() {
        let v = Vocabulary::new(20_000, 42);
        assert_eq!(v.len(), 20_000);
        let distinct: HashSet<&str> = (0..v.len()).map(|r| v.word(r)).collect();
        assert_eq!(distinct.len(), v.len());
        assert_eq!(v.word(4), "ok");
        assert_eq!(v.kind(0), WordKind::Stopword);
        assert_eq!(v.kind(4), WordKind::English);
        assert_eq!(v.word(HEAD.len()), TYPICAL[0]);
        assert_eq!(v.word(RARE_START), RARE[0]);
        let english = (0..v.len()).filter(|&r| v.kind(r) != WordKind::Pseudo).count();
        assert_eq!(english, HEAD.len() + TYPICAL.len() + RARE.len());
        assert!((0..v.len()).all(|r| v.kind(r) != WordKind::Pseudo || v.word(r).ends_with(['a', 'o', 'u'])));
    }

    #[test]
    fn the_head_has_very_common_words_that_are_not_stopwords() {
        let stop: HashSet<&str> = POSTGRES_ENGLISH_STOPWORDS.iter().copied().collect();
        for w in ["ok", "thanks", "good", "know", "time", "yeah", "lol"] {
            let rank = HEAD.iter().position(|h| *h == w).expect(w);
            assert!(rank < 30 && !stop.contains(w), "{w}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_words() {
        let (a, b, c) = (Vocabulary::new(5000, 1), Vocabulary::new(5000, 1), Vocabulary::new(5000, 2));
        assert!((0..5000).all(|r| a.word(r) == b.word(r)));
        assert!((0..5000).any(|r| a.word(r) != c.word(r)));
    }
}
