//! Apertium for real: no fake. With CI=true a missing Apertium fails the
//! test; elsewhere the test says why it skipped.

use enuchat_server::providers::translation::apertium::Apertium;
use enuchat_server::providers::translation::{TranslateError, Translator};
use std::time::Duration;

fn apertium() -> Option<Apertium> {
    match Apertium::discover("apertium", Duration::from_secs(30)) {
        Ok(apertium)
            if apertium.mode_for("en", "es").is_some()
                && apertium.mode_for("es", "en").is_some() =>
        {
            Some(apertium)
        }
        outcome => {
            let why = match outcome {
                Ok(found) => format!(
                    "apertium has no eng-spa/spa-eng modes (found: {:?})",
                    found.modes().collect::<Vec<_>>()
                ),
                Err(err) => format!("{err:#}"),
            };
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "Apertium English<->Spanish is required in CI: {why}. \
                     Install it with: apt-get install -y apertium apertium-eng-spa"
                );
            }
            println!("SKIP: Apertium (apt-get install -y apertium apertium-eng-spa): {why}");
            None
        }
    }
}

#[tokio::test]
async fn english_to_spanish_and_back() {
    let Some(apertium) = apertium() else { return };
    let es = apertium
        .translate("I want to buy a coffee.", Some("en"), "es")
        .await
        .unwrap();
    assert_eq!(es.text, "Quiero comprar un café.");
    assert_eq!(es.source_language.as_deref(), Some("en"));
    assert_eq!(es.characters, 23);

    let en = apertium
        .translate(
            "¿Dónde está mi pedido? Quiero comprar un café.",
            Some("es"),
            "en",
        )
        .await
        .unwrap();
    assert!(en.text.starts_with("Where"), "{}", en.text);
    assert!(en.text.contains("I want to buy a coffee."), "{}", en.text);
    assert!(
        !en.text.contains('*'),
        "unknown-word marks must be off: {}",
        en.text
    );
}

#[tokio::test]
async fn the_source_is_detected_when_unknown_and_lines_are_kept() {
    let Some(apertium) = apertium() else { return };
    let t = apertium
        .translate(
            "Hello, I would like to know the price of the coffee.\nThank you very much.",
            None,
            "es",
        )
        .await
        .unwrap();
    assert_eq!(t.source_language.as_deref(), Some("en"));
    assert!(t.text.contains("café"), "{}", t.text);
    assert_eq!(t.text.lines().count(), 2, "{}", t.text);
}

#[tokio::test]
async fn a_pair_that_is_not_installed_is_unsupported() {
    let Some(apertium) = apertium() else { return };
    let err = apertium
        .translate("I want to buy a coffee.", Some("en"), "ja")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        TranslateError::Unsupported {
            from: "en".into(),
            to: "ja".into()
        }
    );
}
