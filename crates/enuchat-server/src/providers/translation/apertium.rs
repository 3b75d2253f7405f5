//! Apertium: rule-based translation by a program on this machine, for
//! businesses that may not send chats to a cloud. Debian packages it as
//! `apertium` plus one package per pair (`apertium-eng-spa` gives the modes
//! `eng-spa` and `spa-eng`). Each translation runs `apertium -u MODE` with the
//! text on stdin; the installed modes are listed once, at start, so a pair
//! that is not installed is known to be unsupported without running anything.

use super::{primary, TranslateError, Translation, Translator};
use async_trait::async_trait;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

pub struct Apertium {
    binary: PathBuf,
    modes: BTreeSet<String>,
    timeout: Duration,
}

/// Apertium names languages with ISO 639-3 codes; enuchat uses ISO 639-1.
pub fn iso639_3(code: &str) -> Option<&'static str> {
    Some(match primary(code).as_str() {
        "en" => "eng",
        "es" => "spa",
        "ca" => "cat",
        "fr" => "fra",
        "pt" => "por",
        "it" => "ita",
        "de" => "deu",
        "nl" => "nld",
        "gl" => "glg",
        "eu" => "eus",
        "oc" => "oci",
        "an" => "arg",
        "ro" => "ron",
        "eo" => "epo",
        "nb" | "no" => "nob",
        "nn" => "nno",
        "sv" => "swe",
        "da" => "dan",
        "is" => "isl",
        "cy" => "cym",
        "br" => "bre",
        "ga" => "gle",
        "mt" => "mlt",
        "ru" => "rus",
        "uk" => "ukr",
        "be" => "bel",
        "pl" => "pol",
        "cs" => "ces",
        "sk" => "slk",
        "hr" => "hrv",
        "sr" => "srp",
        "bs" => "bos",
        "sl" => "slv",
        "mk" => "mkd",
        "bg" => "bul",
        "kk" => "kaz",
        "tt" => "tat",
        "tr" => "tur",
        "ar" => "ara",
        "he" => "heb",
        "hi" => "hin",
        "ur" => "urd",
        "id" => "ind",
        "ms" => "msa",
        "fi" => "fin",
        "et" => "est",
        _ => return None,
    })
}

impl Apertium {
    /// Finds the installed modes by running `BINARY -l`. Fails with a message
    /// that says what to install when the program or every pair is missing.
    pub fn discover(binary: impl AsRef<Path>, timeout: Duration) -> anyhow::Result<Self> {
        let binary = binary.as_ref().to_path_buf();
        let output = std::process::Command::new(&binary)
            .arg("-l")
            .stdin(Stdio::null())
            .output()
            .map_err(|err| {
                anyhow::anyhow!(
                    "the apertium translation provider needs the `{}` program ({err}); \
                     install the Debian packages `apertium` and a language pair such as \
                     `apertium-eng-spa`",
                    binary.display()
                )
            })?;
        anyhow::ensure!(
            output.status.success(),
            "`{} -l` failed ({}): {}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
        let modes = parse_modes(&String::from_utf8_lossy(&output.stdout));
        anyhow::ensure!(
            !modes.is_empty(),
            "apertium has no language pairs installed; install one such as the Debian package \
             `apertium-eng-spa`"
        );
        Ok(Self::with_modes(binary, modes, timeout))
    }

    /// A translator for known modes, without asking the program.
    pub fn with_modes(
        binary: impl Into<PathBuf>,
        modes: impl IntoIterator<Item = String>,
        timeout: Duration,
    ) -> Self {
        Self {
            binary: binary.into(),
            modes: modes.into_iter().collect(),
            timeout,
        }
    }

    /// The installed modes, such as `eng-spa`.
    pub fn modes(&self) -> impl Iterator<Item = &str> {
        self.modes.iter().map(String::as_str)
    }

    /// The mode that translates `from` into `to`, if it is installed.
    pub fn mode_for(&self, from: &str, to: &str) -> Option<String> {
        let mode = format!("{}-{}", iso639_3(from)?, iso639_3(to)?);
        self.modes.contains(&mode).then_some(mode)
    }

    async fn run(&self, mode: &str, text: &str) -> Result<String, TranslateError> {
        let mut child = tokio::process::Command::new(&self.binary)
            .args(["-u", "-f", "txt", mode])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A timed-out translation is dropped, and with it the process.
            .kill_on_drop(true)
            .spawn()
            .map_err(|err| {
                TranslateError::Permanent(format!(
                    "could not start {}: {err}",
                    self.binary.display()
                ))
            })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let input = text.as_bytes().to_vec();
        // Write and read at once: a long text could fill the output pipe
        // before all of the input is written.
        let write = async move {
            let written = stdin.write_all(&input).await;
            drop(stdin);
            written
        };
        let work = async { tokio::join!(write, child.wait_with_output()) };
        let (written, output) = tokio::time::timeout(self.timeout, work)
            .await
            .map_err(|_| {
                TranslateError::Transient(format!(
                    "apertium {mode} took longer than {:?}",
                    self.timeout
                ))
            })?;
        let output =
            output.map_err(|err| TranslateError::Transient(format!("apertium {mode}: {err}")))?;
        if !output.status.success() {
            // The same input with the same data fails the same way.
            return Err(TranslateError::Permanent(format!(
                "apertium {mode} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        written.map_err(|err| TranslateError::Transient(format!("apertium {mode}: {err}")))?;
        Ok(tidy(text, &String::from_utf8_lossy(&output.stdout)))
    }
}

/// Apertium drops words (a subject pronoun: "I want" → "Quiero") but keeps
/// the blanks around them, and may end with a newline the input did not have.
/// Spacing the input did not have at its ends or inside its lines is removed.
fn tidy(input: &str, translated: &str) -> String {
    let mut out = translated;
    if !input.starts_with(char::is_whitespace) {
        out = out.trim_start();
    }
    if !input.ends_with(char::is_whitespace) {
        out = out.trim_end();
    }
    if input.contains("  ") {
        return out.to_owned();
    }
    let mut tidied = String::with_capacity(out.len());
    for c in out.chars() {
        if c == ' ' && tidied.ends_with(' ') {
            continue;
        }
        tidied.push(c);
    }
    tidied
}

/// `apertium -l` prints one mode per line, indented.
fn parse_modes(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

#[async_trait]
impl Translator for Apertium {
    async fn translate(
        &self,
        text: &str,
        from: Option<&str>,
        to: &str,
    ) -> Result<Translation, TranslateError> {
        // Apertium cannot detect languages; fall back to our own detector.
        let from = match from {
            Some(code) => Some(primary(code)),
            None => crate::providers::language::detect(text),
        };
        let unsupported = || TranslateError::Unsupported {
            from: from.clone().unwrap_or_else(|| "unknown".into()),
            to: to.to_owned(),
        };
        let Some(source) = from.as_deref() else {
            return Err(unsupported());
        };
        let Some(mode) = self.mode_for(source, to) else {
            return Err(unsupported());
        };
        if text.trim().is_empty() {
            return Ok(Translation::new(text, text.to_owned(), from));
        }
        let translated = self.run(&mode, text).await?;
        Ok(Translation::new(text, translated, from))
    }

    fn name(&self) -> &'static str {
        "apertium"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blanks_left_by_dropped_words_are_removed() {
        assert_eq!(
            tidy("I want a coffee", " Quiero un café\n"),
            "Quiero un café"
        );
        assert_eq!(tidy("Hello, I want", "Hola,  quiero"), "Hola, quiero");
        assert_eq!(tidy("a  b\n", "x  y\n"), "x  y\n");
    }

    #[test]
    fn modes_are_parsed_and_pairs_resolved() {
        let modes = parse_modes("  eng-spa\n  spa-eng\n  spa-eng_US\n");
        let apertium = Apertium::with_modes("apertium", modes, Duration::from_secs(1));
        assert_eq!(apertium.mode_for("en", "es").as_deref(), Some("eng-spa"));
        assert_eq!(apertium.mode_for("es", "en-US").as_deref(), Some("spa-eng"));
        assert_eq!(apertium.mode_for("en", "fr"), None);
        assert_eq!(apertium.mode_for("xx", "es"), None);
    }

    #[tokio::test]
    async fn a_missing_pair_is_unsupported_without_running_anything() {
        // The binary does not exist: an attempt to run it would be Permanent.
        let apertium = Apertium::with_modes(
            "/nonexistent/apertium",
            ["eng-spa".to_string()],
            Duration::from_secs(1),
        );
        let err = apertium
            .translate("Hello there", Some("en"), "fr")
            .await
            .unwrap_err();
        assert_eq!(
            err,
            TranslateError::Unsupported {
                from: "en".into(),
                to: "fr".into()
            }
        );
        let err = apertium.translate("ok", None, "es").await.unwrap_err();
        assert!(matches!(err, TranslateError::Unsupported { .. }), "{err:?}");
    }

    #[test]
    fn a_missing_program_is_a_clear_start_up_error() {
        let err = Apertium::discover("/nonexistent/apertium", Duration::from_secs(1))
            .err()
            .expect("must fail");
        let message = format!("{err:#}");
        assert!(message.contains("apertium-eng-spa"), "{message}");
    }
}
