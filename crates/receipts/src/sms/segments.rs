//! How many SMS segments a text takes, so a receipt can be kept to a few.
//!
//! A text made only of the GSM 03.38 alphabet goes as 7-bit characters: 160
//! in one segment, 153 per segment once split (the rest carries the
//! concatenation header); the extension characters such as `€` take two.
//! Any other character sends the whole text as UCS-2: 70 UTF-16 code units
//! in one segment, 67 once split (an emoji takes two).

/// The GSM 03.38 basic alphabet, less the escape character.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                         ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: each is sent as an escape plus one more.
const GSM_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// The number of segments `text` is sent in (at least one).
pub fn count(text: &str) -> usize {
    match gsm_septets(text) {
        Some(septets) => segments(septets, 160, 153),
        None => segments(text.encode_utf16().count(), 70, 67),
    }
}

/// The length of `text` in GSM 7-bit characters, or `None` if some
/// character is outside that alphabet.
fn gsm_septets(text: &str) -> Option<usize> {
    text.chars().try_fold(0, |septets, c| {
        if GSM_BASIC.contains(c) {
            Some(septets + 1)
        } else if GSM_EXTENSION.contains(c) {
            Some(septets + 2)
        } else {
            None
        }
    })
}

fn segments(units: usize, single_max: usize, part_max: usize) -> usize {
    if units <= single_max {
        1
    } else {
        units.div_ceil(part_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gsm_alphabets_have_their_sizes() {
        assert_eq!(GSM_BASIC.chars().count(), 127, "128 less the escape");
        assert_eq!(GSM_EXTENSION.chars().count(), 10);
    }

    #[test]
    fn gsm_text_fits_160_then_153_a_segment() {
        assert_eq!(count(""), 1);
        assert_eq!(count(&"a".repeat(160)), 1);
        assert_eq!(count(&"a".repeat(161)), 2);
        assert_eq!(count(&"a".repeat(306)), 2);
        assert_eq!(count(&"a".repeat(307)), 3);
        assert_eq!(count("Zürich, ¥1,235"), 1);
    }

    #[test]
    fn extension_characters_count_twice() {
        assert_eq!(count(&"€".repeat(80)), 1);
        assert_eq!(count(&"€".repeat(81)), 2);
    }

    #[test]
    fn other_text_fits_70_then_67_code_units_a_segment() {
        assert_eq!(count(&"東".repeat(70)), 1);
        assert_eq!(count(&"東".repeat(71)), 2);
        assert_eq!(count(&"🎭".repeat(35)), 1, "an emoji is two UTF-16 code units");
        assert_eq!(count(&"🎭".repeat(36)), 2);
        assert_eq!(count(&format!("{}東", "a".repeat(69))), 1);
    }
}
