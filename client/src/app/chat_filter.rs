//! Masking words in a stranger's chat: whole words from a list the user can edit (a small
//! default list ships in `assets/masked-words.txt`), ignoring case, with common endings. The
//! first letter stays, so the line still reads ("f***"). Pure, no allocation for a clean line.

use std::borrow::Cow;

/// The list the app starts with.
pub const DEFAULT_WORDS: &str = include_str!("../../../assets/masked-words.txt");

/// Endings a listed word may carry and still be masked.
const ENDINGS: [&str; 8] = ["", "s", "es", "ed", "er", "ers", "ing", "y"];

/// The words of a list: one per line, `#` comments and blanks skipped, lowercased.
pub fn words(list: &str) -> Vec<String> {
    list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_lowercase).collect()
}

fn listed(word: &str, list: &[String]) -> bool {
    // Drawn every frame: an ASCII word is lowercased without allocating; others (rare) are
    // lowercased into a string.
    let mut ascii = [0u8; 32];
    let owned;
    let lower = if word.is_ascii() && word.len() <= ascii.len() {
        let buf = &mut ascii[..word.len()];
        buf.copy_from_slice(word.as_bytes());
        buf.make_ascii_lowercase();
        std::str::from_utf8(buf).unwrap_or(word)
    } else {
        owned = word.to_lowercase();
        owned.as_str()
    };
    list.iter().any(|w| {
        let Some(rest) = lower.strip_prefix(w.as_str()) else { return false };
        // The ending, also after a doubled last letter ("shitty").
        let doubled = w.chars().last().and_then(|c| rest.strip_prefix(c)).filter(|r| !r.is_empty());
        ENDINGS.contains(&rest) || doubled.is_some_and(|r| ENDINGS.contains(&r))
    })
}

/// The words of `text` (runs of letters and digits), as byte ranges.
fn word_spans(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = None;
    text.char_indices().chain(std::iter::once((text.len(), ' '))).filter_map(move |(i, c)| {
        if c.is_alphanumeric() && i < text.len() {
            start.get_or_insert(i);
            None
        } else {
            start.take().map(|s| (s, i))
        }
    })
}

/// `text` with every listed word masked; borrowed when nothing is.
pub fn mask<'a>(text: &'a str, list: &[String]) -> Cow<'a, str> {
    if list.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out: Option<String> = None;
    // How much of `text` is in `out` already.
    let mut copied = 0;
    for (start, end) in word_spans(text) {
        let word = &text[start..end];
        if !listed(word, list) {
            continue;
        }
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(&text[copied..start]);
        let mut chars = word.chars();
        buf.extend(chars.next());
        buf.extend(chars.map(|_| '*'));
        copied = end;
    }
    match out {
        Some(mut buf) => {
            buf.push_str(&text[copied..]);
            Cow::Owned(buf)
        }
        None => Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_words_are_masked_whole_with_their_endings_and_nothing_else() {
        let list = words("# comment\nshit\n\nCOCK\n");
        assert_eq!(list, ["shit", "cock"]);
        assert_eq!(mask("oh Shit, that's shitty!", &list), "oh S***, that's s*****!");
        assert_eq!(mask("a cocktail in Scunthorpe", &list), "a cocktail in Scunthorpe", "whole words only");
        assert!(matches!(mask("nothing to see", &list), Cow::Borrowed(_)));
        assert_eq!(mask("shit", &list), "s***");
        assert_eq!(mask("¡shit! ünïcode cocks…", &list), "¡s***! ünïcode c****…");
        assert_eq!(mask("", &list), "");
        assert_eq!(mask("shit", &[]), "shit");
    }

    #[test]
    fn the_shipped_list_loads() {
        let list = words(DEFAULT_WORDS);
        assert!(list.len() >= 10);
        assert!(list.iter().all(|w| !w.contains(' ') && w == &w.to_lowercase()));
        assert_eq!(mask("what the fuck", &list), "what the f***");
    }
}
