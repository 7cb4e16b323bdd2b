//! The invocation's setting: which profile and server, whether to print JSON, and the API
//! client authenticated with the API key or the profile's login session.

use super::http::{Api, Credential, Session};
use super::profile::{ConfigStore, Profile};
use super::GlobalArgs;
use anyhow::Result;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

pub struct Context {
    pub json: bool,
    pub profile: String,
    pub store: ConfigStore,
    server_flag: Option<String>,
    api_key: Option<String>,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Result<Context> {
        let nonempty = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        Ok(Context {
            json: global.json,
            profile: global.profile,
            store: ConfigStore::locate()?,
            server_flag: nonempty(global.server).map(|s| normalize(&s)),
            api_key: nonempty(global.api_key),
        })
    }

    pub fn load_profile(&self) -> Result<Profile> {
        self.store.profile(&self.profile)
    }

    /// `--server`, else the profile's server, else the default.
    pub fn server(&self, profile: &Profile) -> String {
        self.server_flag.clone().or_else(|| profile.server.as_deref().map(normalize)).unwrap_or_else(|| DEFAULT_SERVER.into())
    }

    /// A client without credentials (registration, login).
    pub fn anonymous(&self) -> Result<Api> {
        Api::new(&self.server(&self.load_profile()?), Credential::None)
    }

    /// A client with the API key when one is given, else with the profile's login session.
    pub fn authenticated(&self) -> Result<Api> {
        let profile = self.load_profile()?;
        let server = self.server(&profile);
        if let Some(key) = &self.api_key {
            return Api::new(&server, Credential::ApiKey(key.clone()));
        }
        self.session_api(profile)?.ok_or_else(|| anyhow::anyhow!("not logged in: run `tunery login{}`", self.profile_flag()))
    }

    /// A client with the profile's login session, if it has one (the API key is not used).
    pub fn session_api(&self, profile: Profile) -> Result<Option<Api>> {
        let server = self.server(&profile);
        let Some(access_token) = profile.access_token else { return Ok(None) };
        if let Some(logged_in_at) = profile.server.as_deref().map(normalize) {
            if logged_in_at != server {
                anyhow::bail!(
                    "profile `{}` is logged in at {logged_in_at}, not {server}; to use {server}, log in there with another profile: \
                     `tunery --profile NAME --server {server} login`",
                    self.profile
                );
            }
        }
        let session =
            Session { store: self.store.clone(), profile: self.profile.clone(), access_token, refresh_token: profile.refresh_token };
        Ok(Some(Api::new(&server, Credential::Session(session))?))
    }

    /// ` --profile NAME` when not the default profile, for hints.
    pub fn profile_flag(&self) -> String {
        if self.profile == "default" {
            String::new()
        } else {
            format!(" --profile {}", self.profile)
        }
    }
}

fn normalize(server: &str) -> String {
    server.trim().trim_end_matches('/').to_string()
}
