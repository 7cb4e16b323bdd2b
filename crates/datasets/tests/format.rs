//! Detection on raw bytes, and the user-facing `FormatSpec` (serde, `check`).

use datasets::{detect, Container, FileErrorCode, FormatSpec, Message, Record, Role, Schema, TxtSplit};

fn spec(container: Container, schema: Schema) -> FormatSpec {
    FormatSpec::new(container, schema)
}

#[test]
fn whole_file_problems_are_refused_by_their_bytes() {
    let table: &[(&[u8], Option<&str>, FileErrorCode)] = &[
        (b"\x1f\x8b\x08\x00rest", Some("data.jsonl"), FileErrorCode::CompressedFile),
        (b"PK\x03\x04rest", Some("data.jsonl"), FileErrorCode::CompressedFile),
        (b"PK\x05\x06", None, FileErrorCode::CompressedFile),
        (b"\x28\xb5\x2f\xfdrest", Some("data.json"), FileErrorCode::CompressedFile),
        (b"\xfd7zXZ\x00rest", None, FileErrorCode::CompressedFile),
        (b"BZh91AY&SY", Some("data.csv"), FileErrorCode::CompressedFile),
        (b"\xff\xfe\x00\x00{\x00\x00\x00", None, FileErrorCode::UnsupportedEncoding),
        (b"\x00\x00\xfe\xff\x00\x00\x00{", None, FileErrorCode::UnsupportedEncoding),
        (b"\xfe\xff\x00{\x00\"", None, FileErrorCode::UnsupportedEncoding),
        (b"\x00{\x00\"\x00t\x00e\x00x\x00t", None, FileErrorCode::UnsupportedEncoding),
        (b"", Some("data.jsonl"), FileErrorCode::EmptyFile),
        (b"\xef\xbb\xbf \n", Some("data.jsonl"), FileErrorCode::EmptyFile),
        (b"{\n  \"data\": []\n}", Some("data.json"), FileErrorCode::UnsupportedLayout),
        (b"\"text\"", Some("data.json"), FileErrorCode::UnsupportedLayout),
        (b"{\"a\": 1}\n{\"b\": 2}\n", Some("data.jsonl"), FileErrorCode::UnknownFormat),
        (b"colour,size\nred,big\n", Some("data.csv"), FileErrorCode::UnknownFormat),
    ];
    for (bytes, name, code) in table {
        let got = detect(bytes, *name);
        assert_eq!(got.as_ref().map_err(|e| e.code), Err(*code), "{name:?}: {got:?}");
    }
}

#[test]
fn content_decides_when_the_name_does_not() {
    let table: &[(&[u8], Option<&str>, FormatSpec)] = &[
        (b"[{\"text\": \"a\"}]", None, spec(Container::Json, Schema::Text)),
        (b"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n", Some("upload.bin"), spec(Container::Jsonl, Schema::Chat)),
        (b"{\"text\": \"a\"}\n", Some("data.json"), spec(Container::Jsonl, Schema::Text)),
        (b"[\n{\"text\": \"a\"}\n]", Some("data.jsonl"), spec(Container::Json, Schema::Text)),
        (b"\xef\xbb\xbf[{\"prompt\": \"a\", \"completion\": \"b\"}]", Some("x.json"), spec(Container::Json, Schema::PromptCompletion)),
        (b"BZh is how this text starts\n", None, FormatSpec { split: Some(TxtSplit::Lines), ..spec(Container::Txt, Schema::Text) }),
        (
            b"question,answer\nQ,A\n",
            None,
            FormatSpec {
                columns: Some([("completion".into(), "answer".into()), ("prompt".into(), "question".into())].into()),
                ..spec(Container::Csv, Schema::PromptCompletion)
            },
        ),
        (
            b"Call me Ishmael.\nSome years ago.\n\nNever mind how long.\nprecisely.\n",
            None,
            FormatSpec { split: Some(TxtSplit::Paragraphs), ..spec(Container::Txt, Schema::Text) },
        ),
    ];
    for (bytes, name, expected) in table {
        assert_eq!(detect(bytes, *name).as_ref(), Ok(expected), "{:?}", String::from_utf8_lossy(bytes));
    }
}

#[test]
fn the_majority_of_the_first_records_picks_the_schema() {
    let head = b"{\"text\": \"a\"}\n{\"prompt\": \"p\", \"completion\": \"c\"}\n{\"prompt\": \"p\", \"completion\": \"c\"}\nnot json\n";
    assert_eq!(detect(head, Some("mixed.jsonl")).map(|s| s.schema), Ok(Schema::PromptCompletion));
}

#[test]
fn format_spec_round_trips_and_refuses_unknown_fields() {
    let json = r#"{"container":"csv","schema":"prompt_completion","columns":{"prompt":"question","completion":"answer"}}"#;
    let spec: FormatSpec = serde_json::from_str(json).unwrap();
    assert_eq!(spec.columns.as_ref().unwrap()["prompt"], "question");
    assert_eq!(spec.check(), Ok(()));
    let again: FormatSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
    assert_eq!(again, spec);

    let unknown = r#"{"container":"jsonl","schema":"chat","colums":{}}"#;
    let err = serde_json::from_str::<FormatSpec>(unknown).unwrap_err().to_string();
    assert!(err.contains("unknown field `colums`"), "{err}");
    let parquet: FormatSpec = serde_json::from_str(r#"{"container":"parquet","schema":"chat"}"#).unwrap();
    assert_eq!(parquet, FormatSpec::new(Container::Parquet, Schema::Chat));
    assert!(parquet.check().is_ok());
    let with_columns = FormatSpec { columns: Some(Default::default()), ..parquet };
    assert_eq!(with_columns.check().map_err(|e| e.code), Err(FileErrorCode::InvalidFormatSpec));
    assert!(serde_json::from_str::<FormatSpec>(r#"{"container":"orc","schema":"chat"}"#).is_err());
}

#[test]
fn contradictory_specs_are_refused_by_check() {
    let columns = |pairs: &[(&str, &str)]| Some(pairs.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect());
    let table = [
        FormatSpec { columns: columns(&[("text", "body")]), ..spec(Container::Jsonl, Schema::Text) },
        FormatSpec { split: Some(TxtSplit::Paragraphs), ..spec(Container::Jsonl, Schema::Text) },
        spec(Container::Txt, Schema::Chat),
        spec(Container::Csv, Schema::Chat),
        FormatSpec { columns: columns(&[("prompt", "q")]), ..spec(Container::Csv, Schema::PromptCompletion) },
        FormatSpec {
            columns: columns(&[("prompt", "q"), ("completion", "a"), ("answer", "x")]),
            ..spec(Container::Csv, Schema::PromptCompletion)
        },
        FormatSpec { delimiter: Some('"'), ..spec(Container::Csv, Schema::Text) },
    ];
    for s in table {
        assert_eq!(s.check().map_err(|e| e.code), Err(FileErrorCode::InvalidFormatSpec), "{s:?}");
    }
    assert_eq!(FormatSpec { delimiter: Some(';'), ..spec(Container::Csv, Schema::Text) }.check(), Ok(()));
}

#[test]
fn records_serialise_with_their_kind() {
    let record = Record::Chat {
        messages: vec![Message::new(Role::User, "Hi"), Message { weight: Some(1), ..Message::new(Role::Assistant, "Hey") }],
    };
    assert_eq!(
        serde_json::to_string(&record).unwrap(),
        r#"{"type":"chat","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hey","weight":1}]}"#
    );
    assert_eq!(Record::Text { text: "a \"b\"".into() }.to_openai_json(), r#"{"text":"a \"b\""}"#);
}
