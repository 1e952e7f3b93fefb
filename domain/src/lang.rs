//! The two languages every person-visible text comes in.

use serde::{Deserialize, Serialize};

/// A language of the console. Japanese is the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    Ja,
    En,
}

impl Lang {
    /// The BCP 47 tag, as used in `<html lang>` and in the language cookie.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// Reads a tag written by [`Lang::tag`]; anything else is `None`.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        match tag.trim() {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

/// A text in both languages, for messages built at run time (errors with values in them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub ja: String,
    pub en: String,
}

impl Message {
    pub fn new(ja: impl Into<String>, en: impl Into<String>) -> Self {
        Message {
            ja: ja.into(),
            en: en.into(),
        }
    }

    pub fn in_lang(&self, lang: Lang) -> &str {
        match lang {
            Lang::Ja => &self.ja,
            Lang::En => &self.en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_round_trip_and_unknown_tags_are_refused() {
        for lang in [Lang::Ja, Lang::En] {
            assert_eq!(Lang::from_tag(lang.tag()), Some(lang));
        }
        assert_eq!(Lang::from_tag("fr"), None);
        assert_eq!(Lang::default(), Lang::Ja);
    }
}
