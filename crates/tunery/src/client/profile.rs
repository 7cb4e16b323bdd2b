//! The user's configuration file: named profiles, each a server and the login tokens for it.
//!
//! Location: `$TUNERY_CONFIG_HOME/config.toml`, else `$XDG_CONFIG_HOME/tunery/config.toml`,
//! else `$HOME/.config/tunery/config.toml`. The file holds secrets, so it is always written
//! with mode 0600 (its directory, when created, 0700), and atomically: a temporary file in the
//! same directory, then a rename. Keys this version does not know are kept as they were.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The whole file. Not `Debug`: it holds tokens.
#[derive(Default, Clone, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Anything else in the file, written back unchanged.
    #[serde(flatten)]
    pub other: toml::Table,
}

/// One `[profiles.NAME]` table. Not `Debug`: it holds tokens.
#[derive(Default, Clone, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(flatten)]
    pub other: toml::Table,
}

/// Where the configuration file lives, and reading and writing it.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    path: PathBuf,
}

impl ConfigStore {
    /// The file named by the environment (see the module comment).
    pub fn locate() -> Result<ConfigStore> {
        let path = config_path(|name| std::env::var(name).ok())
            .context("cannot find the configuration directory: set TUNERY_CONFIG_HOME or HOME")?;
        Ok(ConfigStore { path })
    }

    /// The file's contents; an empty configuration when it does not exist yet.
    pub fn load(&self) -> Result<ConfigFile> {
        match fs::read_to_string(&self.path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("invalid configuration file {}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        }
    }

    /// One profile (empty when absent).
    pub fn profile(&self, name: &str) -> Result<Profile> {
        Ok(self.load()?.profiles.remove(name).unwrap_or_default())
    }

    /// Reads the file afresh, changes one profile (created if absent) and writes it back.
    pub fn update_profile(&self, name: &str, change: impl FnOnce(&mut Profile)) -> Result<()> {
        let mut config = self.load()?;
        change(config.profiles.entry(name.to_string()).or_default());
        self.save(&config)
    }

    /// The directory of the configuration file, where the client keeps its other state too.
    pub fn dir(&self) -> PathBuf {
        self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
    }

    pub fn save(&self, config: &ConfigFile) -> Result<()> {
        let text = toml::to_string_pretty(config).context("cannot encode the configuration")?;
        write_private(&self.path, &text).with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// The configuration file's path from environment variables (empty ones count as unset).
pub fn config_path(var: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let var = |name: &str| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("TUNERY_CONFIG_HOME") {
        return Some(dir.join("config.toml"));
    }
    if let Some(dir) = var("XDG_CONFIG_HOME") {
        return Some(dir.join("tunery").join("config.toml"));
    }
    var("HOME").map(|home| home.join(".config").join("tunery").join("config.toml"))
}

/// Replaces `path` with `contents`, readable by its owner only, atomically.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    // Write through a symbolic link (dotfile managers) rather than replacing it.
    let path = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "config.toml".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&tmp);
    let written = (|| {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.set_permissions(fs::Permissions::from_mode(0o600))?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn path_follows_the_environment_in_order() {
        let all = [("TUNERY_CONFIG_HOME", "/t"), ("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")];
        assert_eq!(config_path(env(&all)), Some(PathBuf::from("/t/config.toml")));
        assert_eq!(config_path(env(&all[1..])), Some(PathBuf::from("/x/tunery/config.toml")));
        assert_eq!(config_path(env(&all[2..])), Some(PathBuf::from("/h/.config/tunery/config.toml")));
        assert_eq!(config_path(env(&[("TUNERY_CONFIG_HOME", ""), ("HOME", "/h")])), Some(PathBuf::from("/h/.config/tunery/config.toml")));
        assert_eq!(config_path(env(&[])), None);
    }

    #[test]
    fn saves_private_and_keeps_unknown_keys() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sub").join("config.toml");
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, "editor = \"vi\"\n[profiles.default]\nserver = \"http://a\"\ncolor = true\n").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let store = ConfigStore { path: path.clone() };
        store
            .update_profile("default", |p| {
                p.access_token = Some("at".into());
            })
            .expect("update");
        store.update_profile("other", |p| p.server = Some("http://b".into())).expect("update");
        let mode = fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let config = store.load().expect("load");
        assert_eq!(config.other.get("editor").and_then(|v| v.as_str()), Some("vi"));
        let default = &config.profiles["default"];
        assert_eq!(default.server.as_deref(), Some("http://a"));
        assert_eq!(default.access_token.as_deref(), Some("at"));
        assert_eq!(default.other.get("color").and_then(|v| v.as_bool()), Some(true));
        assert_eq!(config.profiles["other"].server.as_deref(), Some("http://b"));
        let leftovers: Vec<_> = fs::read_dir(path.parent().expect("parent")).expect("ls").collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn creates_the_directory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ConfigStore { path: dir.path().join("a").join("b").join("config.toml") };
        assert!(store.profile("default").expect("load").server.is_none());
        store.update_profile("default", |p| p.email = Some("e@x".into())).expect("save");
        assert_eq!(store.profile("default").expect("load").email.as_deref(), Some("e@x"));
    }
}
