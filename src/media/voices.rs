//! The prompt sets of every shipped language, decoded once at start-up and shared by all
//! calls. A call speaks through one [`Voice`]: its language's prompts, and for a name that
//! language lacks, the en-US prompt (the documented fallback, so a prompt added in English
//! and not yet translated is heard in English rather than as silence; `umgw check` lists
//! those names per language, see [`PromptSets::missing`]).
//!
//! Memory: each language holds its own decoded copy (8 kHz 16-bit, about 3.2 MB for the
//! shipped en-US set, 3.6 MB for de-DE: 6.8 MB together, logged at start as `decoded_bytes`),
//! so two languages take about twice the prompt memory.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::prompts::PromptLibrary;
use super::speech::{Language, PromptSource, Speaker};

/// One [`PromptLibrary`] per [`Language`]; en-US is the base and the fallback.
#[derive(Debug, Clone, Default)]
pub struct PromptSets {
    /// Indexed by [`Language::index`].
    sets: [PromptLibrary; Language::ALL.len()],
}

impl PromptSets {
    /// The en-US `base` set; other languages empty until [`PromptSets::set`].
    pub fn new(base: PromptLibrary) -> Self {
        let mut sets = PromptSets::default();
        sets.sets[Language::EnUs.index()] = base;
        sets
    }

    /// Replaces the prompts of `language`.
    pub fn set(&mut self, language: Language, prompts: PromptLibrary) {
        self.sets[language.index()] = prompts;
    }

    /// The prompts of `language` alone (no fallback).
    pub fn library(&self, language: Language) -> &PromptLibrary {
        &self.sets[language.index()]
    }

    /// Mutable access, to add an operator's prompts.
    pub fn library_mut(&mut self, language: Language) -> &mut PromptLibrary {
        &mut self.sets[language.index()]
    }

    /// The en-US prompts.
    pub fn base(&self) -> &PromptLibrary {
        self.library(Language::EnUs)
    }

    /// What a call in `language` hears.
    pub fn voice(&self, language: Language) -> Voice<'_> {
        Voice {
            language,
            own: self.library(language),
            base: self.base(),
        }
    }

    /// The prompt names `language` lacks, sorted: those of `required` (the prompts the
    /// gateway plays, named in en-US) and the words its [`Speaker`] composes numbers and
    /// dates from. Always empty for en-US.
    pub fn missing<'a>(
        &self,
        language: Language,
        required: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        if language == Language::EnUs {
            return Vec::new();
        }
        let own = self.library(language);
        let names: BTreeSet<&str> = required
            .into_iter()
            .chain(language.speaker().own_words().iter().copied())
            .collect();
        names
            .into_iter()
            .filter(|n| own.get(n).is_none())
            .map(str::to_owned)
            .collect()
    }

    /// Bytes of decoded audio held, all languages.
    pub fn sample_bytes(&self) -> usize {
        self.sets.iter().map(PromptLibrary::sample_bytes).sum()
    }
}

/// The prompts one call hears: its language's, else en-US.
#[derive(Debug, Clone, Copy)]
pub struct Voice<'a> {
    language: Language,
    own: &'a PromptLibrary,
    base: &'a PromptLibrary,
}

impl Voice<'_> {
    /// The prompt called `name` in this language, else in en-US.
    pub fn get(&self, name: &str) -> Option<Arc<[i16]>> {
        self.own.get(name).or_else(|| self.base.get(name))
    }

    /// The language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// How this language says numbers and dates.
    pub fn speaker(&self) -> &'static dyn Speaker {
        self.language.speaker()
    }
}

impl PromptSource for Voice<'_> {
    fn prompt(&self, name: &str) -> Option<Arc<[i16]>> {
        self.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lib(names: &[&str]) -> PromptLibrary {
        let mut l = PromptLibrary::new();
        for (i, n) in names.iter().enumerate() {
            l.insert(n, Arc::from(vec![i as i16 + 1; 4]));
        }
        l
    }

    #[test]
    fn a_voice_falls_back_to_en_us_and_missing_lists_exactly_the_gaps() {
        let mut sets = PromptSets::new(lib(&["vm-saved", "vm-goodbye", "aa-new"]));
        let mut de = lib(&["vm-saved", "vm-goodbye"]);
        de.insert("vm-saved", Arc::from(vec![99i16; 4]));
        sets.set(Language::DeDe, de);
        let voice = sets.voice(Language::DeDe);
        assert_eq!(voice.get("vm-saved").unwrap()[0], 99);
        // Not translated: the English prompt.
        assert_eq!(voice.get("aa-new").unwrap()[0], 3);
        assert!(voice.get("nope").is_none());
        let base: Vec<&str> = sets.base().names();
        let mut want = vec!["aa-new".to_owned()];
        want.extend(
            Language::DeDe
                .speaker()
                .own_words()
                .iter()
                .map(|w| w.to_string()),
        );
        want.sort();
        assert_eq!(sets.missing(Language::DeDe, base.iter().copied()), want);
        assert!(sets.missing(Language::EnUs, ["x"]).is_empty());
        assert_eq!(sets.sample_bytes(), (3 + 2) * 4 * 2);
    }
}
