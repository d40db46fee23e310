//! Instruction-tuning masks checked against the rendered text, on every fixture family's chat
//! template: the tokens marked as the assistant's are exactly the assistant turns as the template
//! writes them, and nothing the user or system said.

#![allow(clippy::unwrap_used)]

mod common;

use common::{fixture_models, model_dir};
use glassbox_infer::sft::{parse_line, render_masked};
use glassbox_infer::{ChatTemplate, InferError, TextTokenizer};

const CONVERSATION: &str = r#"{"system": "You answer in one short sentence.", "messages": [
  {"role": "user", "content": "Who made the light?"},
  {"role": "assistant", "content": "God said, Let there be light: and there was light."},
  {"role": "user", "content": "And the darkness?"},
  {"role": "assistant", "content": [{"type": "text", "text": "He called the darkness "}, {"type": "text", "text": "Night."}]}
]}"#;

#[test]
fn assistant_tokens_are_exactly_the_assistant_turns() {
    let line = CONVERSATION.replace('\n', " ");
    let example = parse_line("chat.jsonl", 1, &line).unwrap().unwrap();
    let mut checked = 0;
    for name in fixture_models() {
        let tk = TextTokenizer::load(&model_dir(&name)).unwrap();
        let Some(template) = ChatTemplate::from_tokenizer(&tk).unwrap() else {
            continue;
        };
        let r = match render_masked(&template, &tk, &example, "chat.jsonl") {
            Ok(r) => r,
            // Templates that refuse a system message or alternate strictly say so in words.
            Err(InferError::ChatData { message, .. }) => {
                assert!(message.contains("template"), "{name}: {message}");
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        assert_eq!(r.ids.len(), r.assistant.len());
        assert_eq!(r.spans.len(), 2, "{name}");
        let enc = tk.inner().encode(r.text.as_str(), false).unwrap();
        // The masked tokens' bytes, stitched from their offsets, are the spans' bytes.
        let mut masked = String::new();
        for (i, &(s, e)) in enc.get_offsets().iter().enumerate() {
            if r.assistant[i] {
                masked.push_str(&r.text[s..e]);
            }
        }
        let spans: String = r.spans.iter().map(|&(s, e)| &r.text[s..e]).collect();
        assert_eq!(masked, spans, "{name}");
        assert!(masked.contains("God said, Let there be light: and there was light."));
        assert!(masked.contains("He called the darkness Night."));
        for prompt in [
            "Who made the light?",
            "And the darkness?",
            "one short sentence",
        ] {
            assert!(!masked.contains(prompt), "{name}: user text trained on");
            assert!(r.text.contains(prompt) || prompt == "one short sentence");
        }
        // The end-of-turn marker the template writes after an answer is trained on too.
        let after = &r.text[r.spans[0].1 - 1..];
        assert!(!after.is_empty());
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} templates checked");
}

#[test]
fn bad_lines_name_the_line_and_the_problem() {
    let cases = [
        (
            r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
            "no assistant turn",
        ),
        (
            r#"{"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "x"}]}"#,
            "unknown role `wizard`",
        ),
        (
            r#"{"messages": [{"role": "assistant"}]}"#,
            "no string `content`",
        ),
        (r#"{"message": []}"#, "unknown field `message`"),
        (r#"{"messages": "hi"}"#, "not a list"),
        ("[1, 2", "not JSON"),
        (
            r#"{"system": 3, "messages": []}"#,
            "`system` must be a string",
        ),
    ];
    for (text, want) in cases {
        let e = parse_line("data/chat.jsonl", 7, text)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("data/chat.jsonl line 7: "), "{e}");
        assert!(e.contains(want), "{e} (wanted {want})");
    }
    assert!(parse_line("c", 1, "   ").unwrap().is_none());
}
