//! De-indentation of block content: the indentation every non-blank line shares is removed, so a
//! block written indented inside the file reads as if it started at column 1.
//!
//! The rules are Vue's single-file-component parser's, which ImJoy plugins were written against:
//! only text that starts with whitespace is touched; the first non-blank line decides whether the
//! indentation is made of spaces or of tabs (if it starts with anything else, nothing is removed);
//! blank lines lose the same number of characters; lines are re-joined with `\n`.

/// `text` without its common indentation, and how many characters were removed from each
/// non-blank line (callers map error columns back to the source with it).
pub(crate) fn dedent(text: &str) -> (String, usize) {
    if !text.starts_with(is_js_space) {
        return (text.to_owned(), 0);
    }
    let lines: Vec<&str> = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .collect();
    let mut indent_char = None;
    // None: every line is blank, and then every line ends up empty.
    let mut common: Option<usize> = None;
    for line in lines.iter().filter(|line| !is_blank(line)) {
        let indent = match indent_char {
            Some(c) => c,
            None => match line.chars().next() {
                Some(c @ (' ' | '\t')) => {
                    indent_char = Some(c);
                    c
                }
                // The first real line is flush left: the block is not indented.
                _ => return (text.to_owned(), 0),
            },
        };
        let width = line.chars().take_while(|&c| c == indent).count();
        common = Some(common.map_or(width, |w| w.min(width)));
    }
    let remove = common.unwrap_or(usize::MAX);
    let mut out = String::with_capacity(text.len());
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(skip_chars(line, remove));
    }
    (out, common.unwrap_or(0))
}

fn skip_chars(line: &str, n: usize) -> &str {
    line.char_indices().nth(n).map_or("", |(at, _)| &line[at..])
}

fn is_blank(line: &str) -> bool {
    line.chars().all(is_js_space)
}

/// JavaScript's `\s`, which the reference's regular expressions use (it differs from
/// `char::is_whitespace` in two code points: U+FEFF is in, U+0085 is out).
pub(crate) fn is_js_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202f}'
                | '\u{205f}'
                | '\u{3000}'
                | '\u{feff}'
    )
}

#[cfg(test)]
mod tests {
    use super::dedent;

    #[test]
    fn removes_the_common_indentation() {
        let (text, removed) = dedent("\n    a\n      b\n    c\n");
        assert_eq!(text, "\na\n  b\nc\n");
        assert_eq!(removed, 4);
    }

    #[test]
    fn leaves_flush_left_text_alone() {
        assert_eq!(dedent("a\n  b").0, "a\n  b");
        // The first real line decides: flush left means no de-indentation at all.
        assert_eq!(dedent("\nx\n  y\r\n").0, "\nx\n  y\r\n");
    }

    #[test]
    fn tabs_and_spaces_do_not_mix() {
        // Spaces chosen by the first line; a tab-indented line has zero spaces, so nothing goes.
        assert_eq!(dedent("  a\n\tb").0, "  a\n\tb");
        assert_eq!(dedent("\t\ta\n\tb").0, "\ta\nb");
    }

    #[test]
    fn normalises_crlf_and_trims_blank_lines_too() {
        assert_eq!(dedent("\r\n  a\r\n \r\n  b").0, "\na\n\nb");
        assert_eq!(dedent("\n   \n").0, "\n\n");
    }
}
