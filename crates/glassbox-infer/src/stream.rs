//! Incremental detokenisation with stop strings.
//!
//! Byte-level BPE can split one UTF-8 character over several tokens, so text is released only
//! when the decoded tail is complete (no U+FFFD at its end); and text that could be the start of
//! a stop string is held back until it is known not to be one, so a stop string never reaches
//! the reader even in part.

use crate::Result;
use crate::tokenizer::TextTokenizer;

/// The outcome of adding one token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStep {
    /// Text now safe to show.
    pub delta: String,
    /// The stop string that ended the text, if one did.
    pub stopped: Option<String>,
}

/// Text of a growing token sequence, released piece by piece.
#[derive(Debug, Clone)]
pub struct TextStream {
    ids: Vec<u32>,
    stop: Vec<String>,
    text: String,
    emitted: usize,
    done: bool,
}

impl TextStream {
    /// A stream that ends at the first of `stop` (empty strings are ignored).
    pub fn new(stop: &[String]) -> Self {
        Self {
            ids: Vec::new(),
            stop: stop.iter().filter(|s| !s.is_empty()).cloned().collect(),
            text: String::new(),
            emitted: 0,
            done: false,
        }
    }

    /// Adds a token; returns the text it releases and whether a stop string was reached.
    pub fn push(&mut self, tok: &TextTokenizer, id: u32) -> Result<StreamStep> {
        if self.done {
            return Ok(StreamStep::default());
        }
        self.ids.push(id);
        let text = tok.decode(&self.ids, true)?;
        if text.ends_with('\u{FFFD}') {
            return Ok(StreamStep::default());
        }
        self.text = text;
        // The earliest stop string wins; a match may begin inside text already shown only if it
        // was held back, so searching from the start is both simple and correct.
        let hit = self
            .stop
            .iter()
            .filter_map(|s| self.text.find(s.as_str()).map(|pos| (pos, s)))
            .min_by_key(|(pos, _)| *pos);
        if let Some((pos, s)) = hit {
            let stop = s.clone();
            self.text.truncate(pos);
            self.done = true;
            let delta = self
                .text
                .get(self.emitted..)
                .unwrap_or_default()
                .to_string();
            self.emitted = self.text.len();
            return Ok(StreamStep {
                delta,
                stopped: Some(stop),
            });
        }
        let mut safe = self.text.len() - self.held_back();
        while !self.text.is_char_boundary(safe) {
            safe -= 1;
        }
        if safe <= self.emitted {
            return Ok(StreamStep::default());
        }
        // Decoding is prefix-stable for the tokenizers we support; if one ever rewrote shown
        // text, nothing more is shown until the end, where `finish` returns the rest.
        match self.text.get(self.emitted..safe) {
            Some(delta) => {
                let delta = delta.to_string();
                self.emitted = safe;
                Ok(StreamStep {
                    delta,
                    stopped: None,
                })
            }
            None => Ok(StreamStep::default()),
        }
    }

    /// Bytes at the end of the text that could begin a stop string.
    fn held_back(&self) -> usize {
        let mut best = 0;
        for s in &self.stop {
            for k in (1..s.len()).rev() {
                if k > best && s.is_char_boundary(k) && self.text.ends_with(&s[..k]) {
                    best = k;
                    break;
                }
            }
        }
        best
    }

    /// Releases whatever is still held back; call when generation ends.
    pub fn finish(&mut self) -> String {
        let rest = self
            .text
            .get(self.emitted..)
            .unwrap_or_default()
            .to_string();
        self.emitted = self.text.len();
        self.done = true;
        rest
    }

    /// The whole text so far (stop string excluded).
    pub fn text(&self) -> &str {
        &self.text
    }
}
