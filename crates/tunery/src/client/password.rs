//! Reading a password: one line of standard input (`--password-stdin`), else the
//! `TUNERY_PASSWORD` environment variable, else a prompt on the terminal without echo.
//! Passwords never go on the command line, where other users could see them.

use anyhow::{Context, Result};
use std::io::BufRead;

/// Where the password comes from and whether a prompt asks twice (for new passwords).
#[derive(Debug, Clone, Copy)]
pub struct PasswordSource {
    pub from_stdin: bool,
    pub confirm: bool,
}

impl PasswordSource {
    pub fn read(self, prompt: &str) -> Result<String> {
        if self.from_stdin {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line).context("cannot read the password from standard input")?;
            let password = strip_newline(&line).to_string();
            anyhow::ensure!(!password.is_empty(), "no password on standard input");
            return Ok(password);
        }
        if let Some(password) = std::env::var("TUNERY_PASSWORD").ok().filter(|p| !p.is_empty()) {
            return Ok(password);
        }
        let hint = "use --password-stdin or TUNERY_PASSWORD when there is no terminal";
        let password = rpassword::prompt_password(prompt).with_context(|| format!("cannot read the password ({hint})"))?;
        if self.confirm {
            let again =
                rpassword::prompt_password("Repeat the password: ").with_context(|| format!("cannot read the password ({hint})"))?;
            anyhow::ensure!(password == again, "the passwords do not match");
        }
        anyhow::ensure!(!password.is_empty(), "the password is empty");
        Ok(password)
    }
}

fn strip_newline(line: &str) -> &str {
    let line = line.strip_suffix('\n').unwrap_or(line);
    line.strip_suffix('\r').unwrap_or(line)
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_line_end_is_stripped() {
        assert_eq!(super::strip_newline("pw\n"), "pw");
        assert_eq!(super::strip_newline("pw\r\n"), "pw");
        assert_eq!(super::strip_newline(" pw "), " pw ");
    }
}
