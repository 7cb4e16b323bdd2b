//! Rules every conversation must follow, whatever schema it came from: no empty turns, a
//! system message only first, user and assistant alternating, and at least one assistant
//! turn that is trained (weight not 0).

use super::messages::Loc;
use super::Issue;
use crate::errors::ErrorCode;
use crate::record::{Message, Role};

/// What a list of messages must look like.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TurnRules {
    /// Name of the list in messages ("conversation", "prompt", "chosen").
    pub what: &'static str,
    /// Role of the first non-system turn.
    pub first: Role,
    pub allow_system_first: bool,
    /// At least one assistant turn with weight ≠ 0.
    pub require_trained_assistant: bool,
    /// The last turn must be a user turn (a preference prompt).
    pub end_with_user: bool,
}

/// A supervised conversation: optional system, then user first, then alternating.
pub(crate) const CONVERSATION: TurnRules =
    TurnRules { what: "conversation", first: Role::User, allow_system_first: true, require_trained_assistant: true, end_with_user: false };

pub(crate) fn check(messages: &[Message], locs: &[Loc], rules: &TurnRules, issues: &mut Vec<Issue>) {
    check_contents(messages, locs, issues);
    check_order(messages, locs, rules, issues);
    if rules.require_trained_assistant {
        check_trained(messages, rules, issues);
    }
}

fn check_contents(messages: &[Message], locs: &[Loc], issues: &mut Vec<Issue>) {
    for (m, loc) in messages.iter().zip(locs) {
        if m.content.trim().is_empty() {
            let path = loc.content();
            let (code, who) = match m.role {
                Role::Assistant => (ErrorCode::EmptyAssistantTurn, "assistant turn"),
                Role::User => (ErrorCode::EmptyContent, "user turn"),
                Role::System => (ErrorCode::EmptyContent, "system message"),
            };
            let message =
                format!("`{path}` is empty: the {who} has no text{}", if m.content.is_empty() { "" } else { " (only whitespace)" });
            issues.push(Issue::new(path, code, message));
        }
    }
}

/// Reports the first ordering problem only: one misplaced turn would otherwise flag every
/// turn after it.
fn check_order(messages: &[Message], locs: &[Loc], rules: &TurnRules, issues: &mut Vec<Issue>) {
    let mut expected = rules.first;
    let mut previous: Option<(Role, &Loc)> = None;
    for (i, (m, loc)) in messages.iter().zip(locs).enumerate() {
        let problem = match m.role {
            Role::System if i == 0 && rules.allow_system_first => None,
            Role::System if rules.allow_system_first => {
                Some(format!("a system message may only come first, found one at `{}`", loc.whole()))
            }
            Role::System => Some(format!("the {} may not contain a system message, found one at `{}`", rules.what, loc.whole())),
            role if role == expected => None,
            role => Some(match previous {
                Some((prev, prev_loc)) if prev == role => format!(
                    "two {} turns in a row (`{}` and `{}`); user and assistant turns must alternate",
                    role.as_str(),
                    prev_loc.whole(),
                    loc.whole()
                ),
                _ => format!(
                    "the {} starts with a{} {} turn at `{}`; the first turn{} must be from the {}",
                    rules.what,
                    if role == Role::Assistant { "n" } else { "" },
                    role.as_str(),
                    loc.whole(),
                    if rules.allow_system_first { " after an optional system message" } else { "" },
                    expected.as_str()
                ),
            }),
        };
        if let Some(message) = problem {
            issues.push(Issue::new(loc.role(), ErrorCode::RolesOutOfOrder, message));
            return;
        }
        if m.role != Role::System {
            expected = if m.role == Role::User { Role::Assistant } else { Role::User };
            previous = Some((m.role, loc));
        }
    }
    if rules.end_with_user {
        if let Some((Role::Assistant, loc)) = previous {
            let message = format!("the {} must end with a user turn, but ends with the assistant turn `{}`", rules.what, loc.whole());
            issues.push(Issue::new(loc.role(), ErrorCode::RolesOutOfOrder, message));
        }
    }
}

fn check_trained(messages: &[Message], rules: &TurnRules, issues: &mut Vec<Issue>) {
    let assistants = messages.iter().filter(|m| m.role == Role::Assistant).count();
    if assistants == 0 {
        issues.push(Issue::whole(
            ErrorCode::NoAssistantTurn,
            format!("the {} has no assistant turn, so nothing would be trained", rules.what),
        ));
    } else if messages.iter().filter(|m| m.role == Role::Assistant).all(|m| m.weight == Some(0)) {
        issues.push(Issue::whole(
            ErrorCode::NoAssistantTurn,
            format!("every assistant turn in the {} has weight 0, so nothing would be trained", rules.what),
        ));
    }
}
