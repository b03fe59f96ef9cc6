//! `--curve-*` and `--plain-*`: the security mechanism of `send`, `recv` and `monitor`, and
//! `ferromq keygen`, which makes the keys CURVE needs.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use ferromq::z85::Z85Error;
use ferromq::{
    curve_keypair, curve_public, Authenticator, Context, CurvePublicKey, CurveSecretKey, Socket,
};

/// The security flags, shared by every command that opens a socket. Their values may start
/// with '-', as Z85 keys and passwords can. A KEY given as `@FILE` stays off the command line,
/// where other users can see it; a valid 40-character key that starts with `@` is a key.
#[derive(Args)]
pub(crate) struct SecurityArgs {
    /// CURVE: this side is the server; needs --curve-secretkey, and clients need its public key.
    #[arg(long, help_heading = "Security")]
    curve_server: bool,
    /// CURVE: this side's public key (optional: derived from --curve-secretkey, and must
    /// match it). A KEY is 40 Z85 characters, or @FILE: the file's first line, or its
    /// `public:` or `secret:` line (as the flag wants) in a file written by `ferromq keygen`.
    #[arg(
        long,
        value_name = "KEY",
        allow_hyphen_values = true,
        help_heading = "Security"
    )]
    curve_publickey: Option<String>,
    /// CURVE: this side's secret key; prefer @FILE, as the command line is visible to others.
    #[arg(
        long,
        value_name = "KEY",
        allow_hyphen_values = true,
        help_heading = "Security"
    )]
    curve_secretkey: Option<String>,
    /// CURVE: the server's public key, which makes this side a client (with --curve-secretkey).
    #[arg(
        long,
        value_name = "KEY",
        allow_hyphen_values = true,
        help_heading = "Security"
    )]
    curve_serverkey: Option<String>,
    /// PLAIN: this side is the server, letting in the users given with --plain-user. PLAIN
    /// sends passwords in clear: trusted networks only.
    #[arg(long, help_heading = "Security")]
    plain_server: bool,
    /// PLAIN server: let this user in (repeatable); the command checks them as libzmq's ZAP
    /// handlers do.
    #[arg(
        long,
        value_name = "NAME:PASSWORD",
        allow_hyphen_values = true,
        help_heading = "Security"
    )]
    plain_user: Vec<String>,
    /// PLAIN: this side is a client and logs in with this username.
    #[arg(
        long,
        value_name = "NAME",
        allow_hyphen_values = true,
        help_heading = "Security"
    )]
    plain_username: Option<String>,
    /// PLAIN: the client's password (default: empty).
    #[arg(
        long,
        value_name = "PASS",
        allow_hyphen_values = true,
        help_heading = "Security"
    )]
    plain_password: Option<String>,
}

/// Secrets stay out of debug output.
impl fmt::Debug for SecurityArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecurityArgs")
            .field("curve_server", &self.curve_server)
            .field("curve_publickey", &self.curve_publickey)
            .field(
                "curve_secretkey",
                &self.curve_secretkey.as_ref().map(|_| ".."),
            )
            .field("curve_serverkey", &self.curve_serverkey)
            .field("plain_server", &self.plain_server)
            .field("plain_users", &self.plain_user.len())
            .field("plain_username", &self.plain_username)
            .field(
                "plain_password",
                &self.plain_password.as_ref().map(|_| ".."),
            )
            .finish()
    }
}

/// The mechanism and role the flags choose, with the keys read and checked.
#[derive(Debug)]
pub(crate) enum Security {
    Null,
    CurveServer {
        public: Option<CurvePublicKey>,
        secret: CurveSecretKey,
    },
    CurveClient {
        server: CurvePublicKey,
        public: Option<CurvePublicKey>,
        secret: CurveSecretKey,
    },
    /// The users it lets in, by name and password.
    PlainServer(Vec<(String, String)>),
    PlainClient {
        username: String,
        password: String,
    },
}

impl SecurityArgs {
    /// The flags given, by name, for CURVE and for PLAIN.
    fn given(&self) -> (Vec<&'static str>, Vec<&'static str>) {
        let curve = [
            ("--curve-server", self.curve_server),
            ("--curve-publickey", self.curve_publickey.is_some()),
            ("--curve-secretkey", self.curve_secretkey.is_some()),
            ("--curve-serverkey", self.curve_serverkey.is_some()),
        ];
        let plain = [
            ("--plain-server", self.plain_server),
            ("--plain-username", self.plain_username.is_some()),
            ("--plain-password", self.plain_password.is_some()),
            ("--plain-user", !self.plain_user.is_empty()),
        ];
        let names = |flags: &[(&'static str, bool)]| {
            flags
                .iter()
                .filter(|(_, on)| *on)
                .map(|(name, _)| *name)
                .collect()
        };
        (names(&curve), names(&plain))
    }

    /// Checks that the flags make one role of one mechanism and reads the keys; the error is
    /// a one-line usage message naming the flags at fault.
    pub(crate) fn check(&self) -> Result<Security, String> {
        let (curve, plain) = self.given();
        if !curve.is_empty() && !plain.is_empty() {
            return Err(format!(
                "CURVE ({}) and PLAIN ({}) cannot be used together",
                curve.join(", "),
                plain.join(", ")
            ));
        }
        if !plain.is_empty() {
            return self.check_plain();
        }
        if !curve.is_empty() {
            return self.check_curve();
        }
        Ok(Security::Null)
    }

    fn check_plain(&self) -> Result<Security, String> {
        if self.plain_server {
            let client_flag = if self.plain_username.is_some() {
                Some("--plain-username")
            } else if self.plain_password.is_some() {
                Some("--plain-password")
            } else {
                None
            };
            if let Some(flag) = client_flag {
                return Err(format!(
                    "--plain-server cannot be used with {flag}: a server checks credentials, \
                     a client gives them"
                ));
            }
            if self.plain_user.is_empty() {
                return Err(
                    "--plain-server needs at least one --plain-user NAME:PASSWORD: a PLAIN \
                            server lets in no one it cannot check"
                        .to_string(),
                );
            }
            let users = self
                .plain_user
                .iter()
                .map(|user| {
                    user.split_once(':')
                        .map(|(name, password)| (name.to_string(), password.to_string()))
                        .ok_or_else(|| "--plain-user: expected NAME:PASSWORD".to_string())
                })
                .collect::<Result<Vec<_>, String>>()?;
            return Ok(Security::PlainServer(users));
        }
        if !self.plain_user.is_empty() {
            return Err("--plain-user goes with --plain-server".to_string());
        }
        match &self.plain_username {
            Some(username) => Ok(Security::PlainClient {
                username: username.clone(),
                password: self.plain_password.clone().unwrap_or_default(),
            }),
            None => Err("--plain-password needs --plain-username".to_string()),
        }
    }

    fn check_curve(&self) -> Result<Security, String> {
        if self.curve_server && self.curve_serverkey.is_some() {
            return Err(
                "--curve-server cannot be used with --curve-serverkey: the server key is for \
                 a client"
                    .to_string(),
            );
        }
        if !self.curve_server && self.curve_serverkey.is_none() {
            let flag = if self.curve_secretkey.is_some() {
                "--curve-secretkey"
            } else {
                "--curve-publickey"
            };
            return Err(format!(
                "{flag} needs --curve-serverkey (on a client) or --curve-server"
            ));
        }
        let Some(secret) = &self.curve_secretkey else {
            return Err(if self.curve_server {
                "--curve-server needs --curve-secretkey (the server's secret key)"
            } else {
                "--curve-serverkey needs --curve-secretkey (this client's secret key; \
                 `ferromq keygen` makes a pair)"
            }
            .to_string());
        };
        let secret = read_key(
            "--curve-secretkey",
            "secret",
            secret,
            CurveSecretKey::from_z85,
        )?;
        let public = self
            .curve_publickey
            .as_deref()
            .map(|arg| read_key("--curve-publickey", "public", arg, CurvePublicKey::from_z85))
            .transpose()?;
        if public.is_some_and(|p| p != curve_public(&secret)) {
            return Err("--curve-publickey is not the public key of --curve-secretkey".to_string());
        }
        Ok(match &self.curve_serverkey {
            Some(arg) => Security::CurveClient {
                server: read_key("--curve-serverkey", "public", arg, CurvePublicKey::from_z85)?,
                public,
                secret,
            },
            None => Security::CurveServer { public, secret },
        })
    }
}

impl Security {
    /// Sets the socket's options; before any bind or connect, as the mechanism is fixed for
    /// each connection when it starts.
    /// A PLAIN server also gets the authenticator that checks its users, to keep as long as
    /// the socket.
    pub(crate) fn apply(
        &self,
        ctx: &Context,
        socket: &Socket,
    ) -> ferromq::Result<Option<Authenticator>> {
        if let Security::PlainServer(users) = self {
            let auth = Authenticator::start(ctx)?;
            for (name, password) in users {
                auth.allow_plain(name.clone().into_bytes(), password.clone().into_bytes());
            }
            socket.set_plain_server(true)?;
            return Ok(Some(auth));
        }
        self.apply_options(socket).map(|()| None)
    }

    fn apply_options(&self, socket: &Socket) -> ferromq::Result<()> {
        match self {
            Security::Null | Security::PlainServer(_) => Ok(()),
            Security::CurveServer { public, secret } => {
                if let Some(public) = public {
                    socket.set_curve_publickey(public.0)?;
                }
                socket.set_curve_secretkey(secret.as_bytes())?;
                socket.set_curve_server(true)
            }
            Security::CurveClient {
                server,
                public,
                secret,
            } => {
                if let Some(public) = public {
                    socket.set_curve_publickey(public.0)?;
                }
                socket.set_curve_secretkey(secret.as_bytes())?;
                socket.set_curve_serverkey(server.0)
            }
            Security::PlainClient { username, password } => {
                socket.set_plain_username(username.clone().into_bytes())?;
                socket.set_plain_password(password.clone().into_bytes())
            }
        }
    }
}

/// Reads the key `arg` gives for `flag`; the error says what is wrong without repeating the
/// key, which may be a secret one.
fn read_key<K>(
    flag: &str,
    label: &str,
    arg: &str,
    parse: fn(&str) -> Result<K, Z85Error>,
) -> Result<K, String> {
    let text = key_text(flag, label, arg)?;
    let source = match arg.strip_prefix('@').filter(|_| text != arg) {
        Some(path) => format!("{flag} (from {path})"),
        None => flag.to_string(),
    };
    let len = text.chars().count();
    if len != 40 {
        return Err(format!(
            "{source}: a CURVE key is 40 Z85 characters, not {len}"
        ));
    }
    parse(&text).map_err(|e| match e {
        Z85Error::BadCharacter { position, .. } => {
            format!("{source}: not a CURVE key: byte {position} is not a Z85 character")
        }
        other => format!("{source}: not a CURVE key: {other}"),
    })
}

/// The key's text: `arg` itself, or for `@FILE` the line labelled `label:` in a file with
/// labels, or else the file's first line.
fn key_text(flag: &str, label: &str, arg: &str) -> Result<String, String> {
    // Z85 has '@' too: a valid key that starts with it is a key, not a file name.
    let is_key = arg.len() == 40 && ferromq::z85::decode(arg).is_ok();
    let Some(path) = arg.strip_prefix('@').filter(|_| !is_key) else {
        return Ok(arg.to_string());
    };
    let contents =
        std::fs::read_to_string(path).map_err(|e| format!("{flag}: cannot read {path}: {e}"))?;
    // A key holds no white space, so a first word ending in ':' can only be a label.
    let labelled: Vec<(&str, &str)> = contents
        .lines()
        .filter_map(|line| line.trim().split_once(char::is_whitespace))
        .filter(|(word, _)| word.ends_with(':'))
        .collect();
    if labelled.is_empty() {
        return Ok(contents.lines().next().unwrap_or("").trim().to_string());
    }
    labelled
        .iter()
        .find(|(word, _)| word.strip_suffix(':') == Some(label))
        .map(|(_, key)| key.trim().to_string())
        .ok_or_else(|| format!("{flag}: {path} has no `{label}:` line"))
}

/// `ferromq keygen`: a new key pair, in the two labelled lines that `@FILE` reads.
pub(crate) fn keygen() -> ExitCode {
    let pair = curve_keypair();
    let mut stdout = std::io::stdout().lock();
    let written = writeln!(stdout, "public: {}", pair.public.to_z85())
        .and_then(|_| writeln!(stdout, "secret: {}", pair.secret.to_z85()))
        .and_then(|_| stdout.flush());
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferromq: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid key that starts with '@', as one key in 85 does.
    const AT_KEY: &str = "@000000000000000000000000000000000000000";

    fn file(name: &str, contents: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("ferromq-cli-key-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        format!("@{}", path.display())
    }

    #[test]
    fn a_valid_key_starting_with_at_is_a_key() {
        assert_eq!(AT_KEY.len(), 40);
        assert_eq!(key_text("--k", "public", AT_KEY).unwrap(), AT_KEY);
        assert!(CurvePublicKey::from_z85(AT_KEY).is_ok());
    }

    #[test]
    fn a_file_gives_its_first_line_or_its_labelled_line() {
        let bare = file("bare", "  abc  \nsecond\n");
        assert_eq!(key_text("--k", "secret", &bare).unwrap(), "abc");
        let labelled = file("labelled", "public: PUB\nsecret: SEC\n");
        assert_eq!(key_text("--k", "public", &labelled).unwrap(), "PUB");
        assert_eq!(key_text("--k", "secret", &labelled).unwrap(), "SEC");
        let only_public = file("only-public", "public: PUB\n");
        let error = key_text("--k", "secret", &only_public).unwrap_err();
        assert!(error.contains("secret:"), "{error}");
        for f in [bare, labelled, only_public] {
            let _ = std::fs::remove_file(&f[1..]);
        }
    }
}
