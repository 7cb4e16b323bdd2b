//! Errors: malformed templates fail at `new`, `raise_exception` gives the template's own
//! message, other failures are render errors; names, variables and configs are checked.

use chat_template::{ChatTemplate, Message, Role, SpecialTokens, TemplateError};

fn conversation(roles: &[Role]) -> Vec<Message> {
    roles.iter().enumerate().map(|(i, role)| Message::new(*role, format!("message {i}"))).collect()
}

#[test]
fn malformed_templates_fail_at_new_with_the_line() {
    let cases = [
        ("{% for message in messages %}{{ message.content }}", 1),
        ("line one\n{% if messages %}\n{{ messages[0].content }\n{% endif %}", 3),
        ("{{ messages | }}", 1),
        ("{% generation %}{{ messages }}", 1),
        ("a\nb\n{% endfor %}", 3),
    ];
    for (source, line) in cases {
        match ChatTemplate::new(source, SpecialTokens::default()) {
            Err(TemplateError::Syntax { message, line: Some(at) }) => {
                assert_eq!(at, line, "{source:?}: {message}");
                assert!(message.starts_with("syntax error"), "{source:?}: {message}");
            }
            other => panic!("{source:?} should fail to compile, got {other:?}"),
        }
    }
    let err = ChatTemplate::new("{% for x in y %}", SpecialTokens::default()).unwrap_err();
    assert!(err.to_string().starts_with("the chat template does not compile: syntax error"), "{err}");
    assert!(err.to_string().ends_with("(template line 1)"), "{err}");
}

#[test]
fn raise_exception_gives_the_templates_message() {
    let mistral = ChatTemplate::builtin("mistral").unwrap();
    let err = mistral.render(&conversation(&[Role::User, Role::User]), false).unwrap_err();
    let message = "After the optional system message, conversation roles must alternate user/assistant/user/assistant/...";
    assert_eq!(err, TemplateError::Raised { message: message.to_string() });
    assert_eq!(err.to_string(), format!("the chat template refused the conversation: {message}"));
    // The span finder reports the same error: the full conversation cannot be rendered.
    assert_eq!(mistral.render_with_spans(&conversation(&[Role::User, Role::User])), Err(err));

    let gemma = ChatTemplate::builtin("gemma").unwrap();
    assert_eq!(
        gemma.render(&conversation(&[Role::System, Role::User]), true),
        Err(TemplateError::Raised { message: "System role not supported".to_string() })
    );
    // A message built from the conversation, and a non-string argument printed as Python would.
    let custom = ChatTemplate::new("{{ raise_exception('bad role ' + messages[0].role) }}", SpecialTokens::default()).unwrap();
    assert_eq!(
        custom.render(&conversation(&[Role::Assistant]), false),
        Err(TemplateError::Raised { message: "bad role assistant".into() })
    );
    let custom = ChatTemplate::new("{{ raise_exception(none) }}", SpecialTokens::default()).unwrap();
    assert_eq!(custom.render(&conversation(&[Role::User]), false), Err(TemplateError::Raised { message: "None".into() }));
}

#[test]
fn other_failures_are_render_errors() {
    let cases = [
        "{{ messages[3].role }}",          // undefined value used
        "{{ messages[0].content + 1 }}",   // type error
        "{{ messages | no_such_filter }}", // unknown filter: found when rendering, as in Jinja2
        "{{ messages | tojson(indent=[1]) }}",
        "{{ messages | tojson(1, 2, 3, 4, 5) }}",
    ];
    for source in cases {
        let template = ChatTemplate::new(source, SpecialTokens::default()).unwrap();
        match template.render(&conversation(&[Role::User]), false) {
            Err(TemplateError::Render { message, .. }) => assert!(!message.is_empty()),
            other => panic!("{source:?}: expected a render error, got {other:?}"),
        }
    }
}

#[test]
fn runaway_templates_are_stopped() {
    let template = ChatTemplate::new(
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}",
        SpecialTokens::default(),
    )
    .unwrap();
    let started = std::time::Instant::now();
    match template.render(&conversation(&[Role::User]), false) {
        Err(TemplateError::Render { message, .. }) => assert!(message.contains("fuel"), "{message}"),
        other => panic!("expected the work limit, got {other:?}"),
    }
    println!("work limit reached after {:?}", started.elapsed());
}

#[test]
fn unknown_builtin_lists_the_known_ones() {
    let err = ChatTemplate::builtin("llama9").unwrap_err();
    assert_eq!(err, TemplateError::UnknownBuiltin { name: "llama9".to_string() });
    assert_eq!(
        err.to_string(),
        "no built-in chat template is named \"llama9\"; the built-in ones are chatml, llama3, qwen2, mistral, mistral-v0.1, gemma, phi3"
    );
}

#[test]
fn variables_reach_the_template_but_not_the_reserved_names() {
    let template = ChatTemplate::new("{{ date_string }}|{{ eos_token }}|{{ flags.think }}|{{ flags|tojson }}", SpecialTokens::default())
        .unwrap()
        .with_variable("date_string", serde_json::json!("26 Jul 2024"))
        .unwrap()
        .with_variable("eos_token", serde_json::json!("<end>"))
        .unwrap()
        .with_variable("flags", serde_json::json!({"think": false, "n": 1.5}))
        .unwrap();
    assert_eq!(template.render(&conversation(&[Role::User]), false).unwrap(), "26 Jul 2024|<end>|False|{\"n\": 1.5, \"think\": false}");
    for name in ["messages", "add_generation_prompt"] {
        let err = ChatTemplate::new("", SpecialTokens::default()).unwrap().with_variable(name, serde_json::json!(1)).unwrap_err();
        assert_eq!(err, TemplateError::ReservedVariable { name: name.to_string() });
    }
}

#[test]
fn unset_special_tokens_are_undefined_and_tools_are_none() {
    let special = SpecialTokens { bos_token: Some("<s>".into()), ..SpecialTokens::default() };
    let template = ChatTemplate::new(
        "{{ bos_token }}|{{ eos_token is defined }}|{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}",
        special,
    )
    .unwrap();
    assert_eq!(template.render(&conversation(&[Role::User]), true).unwrap(), "<s>|False|True|True|True");
    assert_eq!(template.render(&[], true), Err(TemplateError::EmptyConversation));
}

#[test]
fn strftime_now_writes_the_current_utc_date() {
    let template = ChatTemplate::new("{{ strftime_now('%Y-%m-%d') }}|{{ strftime_now('%d %b %Y') }}", SpecialTokens::default()).unwrap();
    let text = template.render(&conversation(&[Role::User]), false).unwrap();
    let (iso, llama) = text.split_once('|').unwrap();
    let parts: Vec<&str> = iso.split('-').collect();
    assert_eq!(parts.len(), 3, "{text}");
    assert!(parts[0].parse::<u32>().unwrap() >= 2025, "{text}");
    assert!(llama.starts_with(parts[2]) && llama.ends_with(parts[0]), "{text}");
}

#[test]
fn templates_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ChatTemplate>();
}

#[test]
fn tokenizer_configs_are_read() {
    let config = r#"{
        "chat_template": "{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}",
        "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": false},
        "eos_token": "</s>",
        "pad_token": null
    }"#;
    let template = ChatTemplate::from_tokenizer_config(config).unwrap();
    assert_eq!(
        template.special_tokens(),
        &SpecialTokens { bos_token: Some("<s>".into()), eos_token: Some("</s>".into()), pad_token: None, unk_token: None }
    );
    assert_eq!(template.render(&conversation(&[Role::User]), false).unwrap(), "<s>message 0</s>");

    let named = r#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}"#;
    assert_eq!(ChatTemplate::from_tokenizer_config(named).unwrap().source(), "D");

    for (config, message) in [
        ("{}", "tokenizer_config.json: has no chat_template"),
        (r#"{"chat_template": null}"#, "tokenizer_config.json: has no chat_template"),
        (
            r#"{"chat_template": [{"name": "rag", "template": "R"}]}"#,
            "tokenizer_config.json: chat_template is a list without a template named \"default\"",
        ),
        (r#"{"chat_template": 3}"#, "tokenizer_config.json: chat_template must be a string or a list, not 3"),
    ] {
        assert_eq!(ChatTemplate::from_tokenizer_config(config).unwrap_err().to_string(), message);
    }
    assert!(matches!(ChatTemplate::from_tokenizer_config("{"), Err(TemplateError::Config { .. })));
    assert!(matches!(ChatTemplate::from_tokenizer_config(r#"{"chat_template": "{% if %}"}"#), Err(TemplateError::Syntax { .. })));
}
