//! The Jinja features chat templates use, against Jinja2 configured as transformers configures
//! it (`tests/fixtures/features.json`): `tojson` as `json.dumps`, namespaces, loop controls and
//! variables, Python string and dict methods, Python's printing of values, whitespace control,
//! macros, `{% generation %}`, `raise_exception`, extra variables, `\r\n` in the source.

mod common;

use chat_template::{ChatTemplate, TemplateError};
use common::{first_difference, FeaturesFixture};

#[test]
fn features_render_like_jinja2() {
    let fixture: FeaturesFixture = common::read("features.json");
    let mut failures = Vec::new();
    for case in &fixture.cases {
        let label = format!("features/{}", case.name);
        let source = case.source.as_deref().expect("feature cases carry their template");
        let mut template = ChatTemplate::new(source, fixture.special_tokens.clone()).unwrap_or_else(|err| panic!("{label}: {err}"));
        for (name, value) in &case.variables {
            template = template.with_variable(name, value.clone()).unwrap();
        }
        let result = template.render(&case.messages, case.add_generation_prompt);
        match (&case.expected, &case.error) {
            (Some(expected), None) => {
                let text = result.unwrap_or_else(|err| panic!("{label}: Jinja2 rendered it, Rust failed: {err}"));
                if text != *expected {
                    failures.push(format!("{label}: {}\nexpected {expected:?}\n     got {text:?}", first_difference(expected, &text)));
                }
            }
            (None, Some(message)) => {
                let err = result.expect_err(&format!("{label}: Jinja2 failed ({message}), Rust rendered it"));
                if case.error_type.as_deref() == Some("TemplateError") {
                    assert_eq!(err, TemplateError::Raised { message: message.clone() }, "{label}");
                } else {
                    assert!(matches!(err, TemplateError::Render { .. }), "{label}: {err:?}");
                }
            }
            _ => panic!("{label}: a case has either expected or error"),
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ from Jinja2:\n{}", failures.len(), fixture.cases.len(), failures.join("\n"));
    println!("features: {} cases equal to Jinja2's", fixture.cases.len());
}
