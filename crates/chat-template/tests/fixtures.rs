//! The built-in templates against Jinja2's renderings (`tests/fixtures/<template>.json`), byte
//! for byte, errors included; and the spans of every training rendering: each covers exactly
//! its message's content (plus the end-of-turn token for assistant messages), and the trained
//! ones equal the spans the fixture script found by marking the contents in Python.

mod common;

use chat_template::{builtin, ChatTemplate, Role, SpanMethod, TemplateError, BUILTINS};
use common::{first_difference, BuiltinFixture, Case};

#[test]
fn every_builtin_has_a_fixture_with_its_exact_source_and_tokens() {
    for b in BUILTINS {
        let fixture: BuiltinFixture = common::read(&format!("{}.json", b.name));
        assert_eq!(fixture.template, b.name);
        assert_eq!(
            fixture.source, b.source,
            "{}: templates/{}.jinja changed; rerun scripts/render-chat-template-fixtures.py",
            b.name, b.name
        );
        assert_eq!(fixture.special_tokens, b.special_tokens(), "{}: special tokens differ from the fixture's", b.name);
        assert_eq!(fixture.end_of_turn, b.end_of_turn, "{}", b.name);
        assert_eq!(fixture.origin, b.origin, "{}", b.name);
    }
}

#[test]
fn builtins_render_like_jinja2() {
    let mut total = 0;
    for b in BUILTINS {
        let fixture: BuiltinFixture = common::read(&format!("{}.json", b.name));
        let template = ChatTemplate::builtin(b.name).unwrap();
        let (mut equal, mut errors, mut incremental, mut search, mut oracle) = (0, 0, 0, 0, 0);
        for case in &fixture.cases {
            let label = format!("{}/{}", b.name, case.name);
            let result = template.render(&case.messages, case.add_generation_prompt);
            match (&case.expected, &case.error) {
                (Some(expected), None) => {
                    let text = result.unwrap_or_else(|err| panic!("{label}: Jinja2 rendered it, Rust failed: {err}"));
                    assert!(text == *expected, "{label}: {}", first_difference(expected, &text));
                    equal += 1;
                }
                (None, Some(message)) => {
                    let err = result.expect_err(&format!("{label}: Jinja2 failed ({message}), Rust rendered it"));
                    check_error(&label, case, &err);
                    errors += 1;
                }
                _ => panic!("{label}: a case has either expected or error"),
            }
            if case.expected.is_some() && !case.add_generation_prompt {
                let (method, checked) = check_spans(&label, &template, b.end_of_turn, case);
                match method {
                    SpanMethod::Incremental => incremental += 1,
                    SpanMethod::Search => search += 1,
                }
                oracle += usize::from(checked);
            }
        }
        total += fixture.cases.len();
        println!(
            "{}: {} cases: {equal} renderings and {errors} errors equal to Jinja2's; spans by {incremental} incremental, {search} search, \
             {oracle} equal to the Python-marked spans",
            b.name,
            fixture.cases.len()
        );
    }
    assert!(total >= BUILTINS.len() * 10);
}

pub fn check_error(label: &str, case: &Case, err: &TemplateError) {
    let message = case.error.as_deref().unwrap_or_default();
    if case.error_type.as_deref() == Some("TemplateError") {
        assert_eq!(err, &TemplateError::Raised { message: message.to_string() }, "{label}");
        assert!(err.to_string().contains(message), "{label}: {err}");
    } else if case.messages.is_empty() {
        assert_eq!(err, &TemplateError::EmptyConversation, "{label}");
    } else {
        assert!(matches!(err, TemplateError::Render { .. }), "{label}: Jinja2 raised {message:?}, Rust: {err:?}");
    }
}

/// Checks the spans of a training rendering; returns the method and whether the trained spans
/// were compared with the fixture's.
fn check_spans(label: &str, template: &ChatTemplate, end_of_turn: &str, case: &Case) -> (SpanMethod, bool) {
    let rendered = template.render_with_spans(&case.messages).unwrap_or_else(|err| panic!("{label}: {err}"));
    assert_eq!(Some(&rendered.text), case.expected.as_ref(), "{label}");
    // A message may go unfound only when the template left its content out (Mistral renders a
    // lone system message as nothing).
    for &k in &rendered.unlocated {
        let content = case.messages[k].content.trim();
        assert!(content.is_empty() || !rendered.text.contains(content), "{label}: message {k} is in {:?} but was not found", rendered.text);
    }
    assert_eq!(rendered.spans.len() + rendered.unlocated.len(), case.messages.len(), "{label}");
    let mut previous_end = 0;
    for (i, span) in rendered.spans.iter().enumerate() {
        let message = &case.messages[span.message_index];
        assert!(i == 0 || span.message_index > rendered.spans[i - 1].message_index, "{label}: spans out of order");
        assert_eq!(span.role, message.role, "{label}");
        assert!(span.start >= previous_end, "{label}: span {i} overlaps the one before: {:?}", rendered.spans);
        previous_end = span.end;
        let content = &rendered.text[span.content_range()];
        assert!(content == message.content || content == message.content.trim(), "{label}: span {i} covers {content:?}");
        let tail = &rendered.text[span.content_end..span.end];
        if message.role == Role::Assistant {
            assert_eq!(tail, end_of_turn, "{label}: assistant span {i} must end with the end-of-turn token");
        } else {
            assert_eq!(tail, "", "{label}: span {i}");
        }
        assert_eq!(span.trained, message.role == Role::Assistant && message.weight != Some(0), "{label}: span {i}");
    }
    let trained: Vec<[usize; 2]> = rendered.trained_spans().map(|s| [s.start, s.end]).collect();
    let checked = match &case.trained_spans {
        Some(expected) => {
            assert_eq!(&trained, expected, "{label}: trained spans differ from the Python-marked ones in {:?}", rendered.text);
            true
        }
        None => false,
    };
    (rendered.method, checked)
}

#[test]
fn span_methods_are_as_expected_for_known_templates() {
    let fixture: BuiltinFixture = common::read("chatml.json");
    let case = fixture.cases.iter().find(|c| c.name == "multi_turn").unwrap();
    let method = |name: &str| builtin(name).unwrap().template().unwrap().render_with_spans(&case.messages).map(|r| r.method);
    // ChatML, Llama 3, Qwen2: every prefix renders as a prefix of the whole.
    assert_eq!(method("chatml"), Ok(SpanMethod::Incremental));
    assert_eq!(method("llama3"), Ok(SpanMethod::Incremental));
    assert_eq!(method("qwen2"), Ok(SpanMethod::Incremental));
    // Phi-3 writes the EOS token after the last turn; Mistral puts the system prompt inside the
    // first user turn. Both still find every content, by search.
    assert_eq!(method("phi3"), Ok(SpanMethod::Search));
    assert_eq!(method("mistral"), Ok(SpanMethod::Search));
    // Gemma refuses the system message.
    assert_eq!(method("gemma"), Err(TemplateError::Raised { message: "System role not supported".to_string() }));
}
