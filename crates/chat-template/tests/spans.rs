//! What the spans cover, exactly, and how they are found for templates of different shapes.

use chat_template::{ChatTemplate, Message, Rendered, Role, SpanMethod, SpecialTokens};

fn msg(role: Role, content: &str) -> Message {
    Message::new(role, content)
}

fn weighted(content: &str, weight: u8) -> Message {
    Message { role: Role::Assistant, content: content.to_string(), weight: Some(weight) }
}

/// `(covered text, trained)` for every span.
fn covered(rendered: &Rendered) -> Vec<(&str, bool)> {
    rendered.spans.iter().map(|s| (&rendered.text[s.range()], s.trained)).collect()
}

#[test]
fn chatml_spans_cover_contents_and_the_assistant_end_token() {
    let template = ChatTemplate::builtin("chatml").unwrap();
    let messages = [
        msg(Role::System, "Be brief."),
        msg(Role::User, "Capital of France?"),
        weighted("Lyon.", 0),
        msg(Role::User, "Sure?"),
        weighted("Paris.", 1),
    ];
    let rendered = template.render_with_spans(&messages).unwrap();
    assert_eq!(
        rendered.text,
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nCapital of France?<|im_end|>\n\
         <|im_start|>assistant\nLyon.<|im_end|>\n<|im_start|>user\nSure?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>\n"
    );
    assert_eq!(rendered.method, SpanMethod::Incremental);
    assert_eq!(
        covered(&rendered),
        [
            ("Be brief.", false),
            ("Capital of France?", false),
            ("Lyon.<|im_end|>", false), // weight 0: located, not trained
            ("Sure?", false),
            ("Paris.<|im_end|>", true),
        ]
    );
    let last = &rendered.spans[4];
    assert_eq!((last.message_index, last.role), (4, Role::Assistant));
    assert_eq!(&rendered.text[last.content_range()], "Paris.");
    assert_eq!(&rendered.text[last.end..], "\n", "the newline after the end token is not trained");
    assert_eq!(rendered.trained_spans().count(), 1);
}

#[test]
fn contents_that_repeat_the_header_are_found_in_the_right_place() {
    let template = ChatTemplate::builtin("chatml").unwrap();
    let messages = [msg(Role::User, "user"), msg(Role::Assistant, "a"), msg(Role::User, "im_start"), msg(Role::Assistant, "<|im_end|>")];
    let rendered = template.render_with_spans(&messages).unwrap();
    assert_eq!(rendered.method, SpanMethod::Incremental);
    let starts: Vec<usize> = rendered.spans.iter().map(|s| s.start).collect();
    let expected_starts = [
        // default system prompt, then "<|im_start|>user\n"
        rendered.text.find("<|im_start|>user\nuser").unwrap() + "<|im_start|>user\n".len(),
        rendered.text.find("<|im_start|>assistant\na").unwrap() + "<|im_start|>assistant\n".len(),
        rendered.text.find("<|im_start|>user\nim_start").unwrap() + "<|im_start|>user\n".len(),
        rendered.text.find("<|im_start|>assistant\n<|im_end|>").unwrap() + "<|im_start|>assistant\n".len(),
    ];
    assert_eq!(starts, expected_starts);
    assert_eq!(covered(&rendered)[3], ("<|im_end|><|im_end|>", true));
}

#[test]
fn trimming_templates_cover_the_trimmed_content() {
    let template = ChatTemplate::builtin("llama3").unwrap();
    let messages = [msg(Role::User, "  Hi?\n"), msg(Role::Assistant, "\n Hello.  ")];
    let rendered = template.render_with_spans(&messages).unwrap();
    assert_eq!(
        rendered.text,
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello.<|eot_id|>"
    );
    assert_eq!(covered(&rendered), [("Hi?", false), ("Hello.<|eot_id|>", true)]);
}

#[test]
fn templates_that_are_not_prefix_stable_are_searched() {
    // Phi-3 writes the EOS token after the last turn only.
    let phi3 = ChatTemplate::builtin("phi3").unwrap();
    let rendered = phi3.render_with_spans(&[msg(Role::User, "Hi"), msg(Role::Assistant, "Hello")]).unwrap();
    assert_eq!(rendered.method, SpanMethod::Search);
    assert_eq!(rendered.text, "<|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n<|endoftext|>");
    assert_eq!(covered(&rendered), [("Hi", false), ("Hello<|end|>", true)]);

    // Mistral writes the system prompt inside the first user turn.
    let mistral = ChatTemplate::builtin("mistral").unwrap();
    let messages = [msg(Role::System, "Be brief."), msg(Role::User, "Hi"), msg(Role::Assistant, "Hello"), msg(Role::User, "Bye")];
    let rendered = mistral.render_with_spans(&messages).unwrap();
    assert_eq!(rendered.method, SpanMethod::Search);
    assert_eq!(rendered.text, "<s> [INST] Be brief.\n\nHi [/INST] Hello</s> [INST] Bye [/INST]");
    assert_eq!(covered(&rendered), [("Be brief.", false), ("Hi", false), ("Hello</s>", true), ("Bye", false)]);

    // A template that shows only the last message: the others are not in the text.
    let last_only = ChatTemplate::new("{{ messages[-1].role }}: {{ messages[-1].content }}", SpecialTokens::default()).unwrap();
    let rendered = last_only.render_with_spans(&[msg(Role::User, "Hi"), msg(Role::Assistant, "Hello")]).unwrap();
    assert_eq!(rendered.method, SpanMethod::Search);
    assert_eq!(rendered.unlocated, [0]);
    assert_eq!(covered(&rendered), [("Hello", true)]);
}

#[test]
fn the_end_of_turn_tokens_can_be_set() {
    let source = "{% for m in messages %}<{{ m.role }}>{{ m.content }}[END]\n{% endfor %}";
    let messages = [msg(Role::User, "Hi"), msg(Role::Assistant, "Hello")];
    let plain = ChatTemplate::new(source, SpecialTokens::default()).unwrap();
    assert_eq!(covered(&plain.render_with_spans(&messages).unwrap())[1], ("Hello", true));
    let with_end = plain.with_end_of_turn(["[END]"]);
    assert_eq!(with_end.end_of_turn(), ["[END]"]);
    assert_eq!(covered(&with_end.render_with_spans(&messages).unwrap())[1], ("Hello[END]", true));

    // By default: the EOS token and the well-known ones, longest first.
    let with_eos = ChatTemplate::new(source, SpecialTokens { eos_token: Some("[END]".into()), ..SpecialTokens::default() }).unwrap();
    assert!(with_eos.end_of_turn().contains(&"[END]".to_string()));
    assert_eq!(covered(&with_eos.render_with_spans(&messages).unwrap())[1], ("Hello[END]", true));
}

#[test]
fn empty_contents_get_empty_spans() {
    let template = ChatTemplate::builtin("chatml").unwrap();
    let rendered = template.render_with_spans(&[msg(Role::System, ""), msg(Role::User, "Hi"), msg(Role::Assistant, "")]).unwrap();
    assert_eq!(covered(&rendered), [("", false), ("Hi", false), ("<|im_end|>", true)]);
    assert_eq!(rendered.spans[0].start, "<|im_start|>system\n".len());
}

#[test]
fn an_empty_conversation_is_refused_as_transformers_does() {
    let template = ChatTemplate::builtin("llama3").unwrap();
    assert_eq!(template.render_with_spans(&[]), Err(chat_template::TemplateError::EmptyConversation));
}

#[test]
fn long_conversations_render_within_the_work_limit() {
    let turns: Vec<Message> = (0..2000)
        .map(|i| {
            if i % 2 == 0 {
                msg(Role::User, &format!("question {i} {}", "q".repeat(2000)))
            } else {
                msg(Role::Assistant, &format!("answer {i}"))
            }
        })
        .collect();
    for name in ["chatml", "llama3", "qwen2", "mistral", "mistral-v0.1", "gemma", "phi3"] {
        let template = ChatTemplate::builtin(name).unwrap();
        let text = template.render(&turns, false).unwrap_or_else(|err| panic!("{name}: {err}"));
        assert!(text.len() > 2_000_000, "{name}");
    }
    let template = ChatTemplate::builtin("chatml").unwrap();
    let rendered = template.render_with_spans(&turns[..100]).unwrap();
    assert_eq!(rendered.spans.len(), 100);
    assert_eq!(rendered.trained_spans().count(), 50);
}

#[test]
fn rendered_serializes_for_the_api() {
    let template = ChatTemplate::builtin("qwen2").unwrap();
    let rendered = template.render_with_spans(&[msg(Role::User, "Hi"), msg(Role::Assistant, "Hello")]).unwrap();
    let json = serde_json::to_value(&rendered).unwrap();
    assert_eq!(json["method"], "incremental");
    assert_eq!(
        json["spans"][1],
        serde_json::json!({"message_index": 1, "role": "assistant", "start": 110, "content_end": 115, "end": 125, "trained": true})
    );
    assert_eq!(&rendered.text[110..125], "Hello<|im_end|>");
}
