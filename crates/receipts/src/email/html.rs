//! The `text/html` part. Every receipt field is escaped, and wrapped in
//! `<bdi>` so a right-to-left name (Arabic, Hebrew) keeps its own direction
//! without reordering the English around it.

use crate::receipt::Receipt;
use crate::wording::{self, one_line};

/// The whole HTML document of `receipt`, titled `subject`.
pub(crate) fn document(receipt: &Receipt, subject: &str) -> String {
    let mut rows = String::new();
    for (label, value) in wording::facts(receipt) {
        rows.push_str(&row(label, &isolated(&value)));
    }
    rows.push_str(&row(wording::seats_label(receipt.kind), &seat_list(&receipt.seats)));
    rows.push_str(&row(wording::amount_label(receipt.kind), &isolated(&receipt.amount)));
    rows.push_str(&row("Order", &escape(&receipt.order_id.to_string())));

    format!(
        "<!DOCTYPE html>\n\
         <html lang=\"en\">\n\
         <head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body>\n\
         <p>{greeting}</p>\n\
         <p>{intro}</p>\n\
         <table>\n{rows}</table>\n\
         <p>{signature}</p>\n\
         </body>\n\
         </html>\n",
        title = escape(subject),
        greeting = greeting_html(&receipt.buyer_name),
        intro = escape(&wording::intro(receipt.kind)),
        signature = escape(wording::SIGNATURE),
    )
}

fn row(label: &str, value_html: &str) -> String {
    format!(
        "<tr><th align=\"left\" valign=\"top\">{}</th><td>{value_html}</td></tr>\n",
        escape(label)
    )
}

fn seat_list(seats: &[String]) -> String {
    let items: String = seats.iter().map(|seat| format!("<li>{}</li>", isolated(seat))).collect();
    format!("<ul>{items}</ul>")
}

/// "Hello <bdi>Zoë</bdi>," or, for a buyer who gave no name, "Hello,".
fn greeting_html(name: &str) -> String {
    let name = one_line(name);
    if name.is_empty() {
        "Hello,".to_owned()
    } else {
        format!("Hello {},", isolated(&name))
    }
}

fn isolated(text: &str) -> String {
    format!("<bdi>{}</bdi>", escape(text))
}

/// Escapes `text` for HTML element content and quoted attribute values.
pub(crate) fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;"
        );
        assert_eq!(escape("Zürich 東京 مرحبا 🎭"), "Zürich 東京 مرحبا 🎭");
    }
}
