//! The sandbox's own payment page, where the buyer's browser is sent: one
//! self-contained HTML page per session (no script, no outside asset) with
//! a form for each way to pay, and one to go back.

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use super::model::{PaymentStatus, Session, SessionStatus};
use super::{PayError, PaymentMethod, Sandbox};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/pay/{id}", web::get().to(show))
        .route("/pay/{id}", web::post().to(pay))
        .route("/pay/{id}/cancel", web::post().to(cancel));
}

async fn show(sandbox: web::Data<Sandbox>, id: web::Path<String>) -> HttpResponse {
    let session = match sandbox.session(&id).await {
        Ok(Some(session)) => session,
        Ok(None) => return refusal(&PayError::NotFound),
        Err(error) => return refusal(&error),
    };
    match session.status {
        SessionStatus::Open => page(StatusCode::OK, "Pay", &open_body(&session)),
        SessionStatus::Expired => refusal(&PayError::Expired),
        SessionStatus::Complete => page(StatusCode::OK, "Paid", &complete_body(&session)),
    }
}

async fn pay(
    sandbox: web::Data<Sandbox>,
    id: web::Path<String>,
    form: Result<web::Bytes, actix_web::Error>,
) -> HttpResponse {
    let form = match form {
        Ok(form) => form,
        Err(error) => {
            let status = super::api_error::unreadable_body_status(&error);
            let body = "<p>The form did not arrive whole. Go back and try again.</p>";
            return page(status, "The form could not be read", body);
        }
    };
    let Some(method) = chosen_method(&form) else {
        let body = "<p>Choose a way to pay: card, delayed_success or delayed_failure.</p>";
        return page(StatusCode::BAD_REQUEST, "Unknown payment method", body);
    };
    match sandbox.pay(&id, method).await {
        Ok(success_url) => see_other(&success_url),
        Err(error) => refusal(&error),
    }
}

async fn cancel(sandbox: web::Data<Sandbox>, id: web::Path<String>) -> HttpResponse {
    // Like Stripe's back link, this leaves the session open: only its
    // expiry, or the merchant, ends it.
    match sandbox.session(&id).await {
        Ok(Some(Session { cancel_url: Some(url), .. })) => see_other(&url),
        Ok(Some(_)) => {
            page(StatusCode::OK, "Cancelled", "<p>Nothing was paid. You may close this page.</p>")
        }
        Ok(None) => refusal(&PayError::NotFound),
        Err(error) => refusal(&error),
    }
}

/// The method a pay form chose, by its `method` field.
fn chosen_method(form: &[u8]) -> Option<PaymentMethod> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(form).ok()?;
    let (_, method) = fields.into_iter().find(|(name, _)| name == "method")?;
    PaymentMethod::from_form_value(&method)
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

fn refusal(error: &PayError) -> HttpResponse {
    let (status, title, body) = match error {
        PayError::NotFound => {
            (StatusCode::NOT_FOUND, "Not found", "<p>There is no such checkout session.</p>")
        }
        PayError::Expired => (
            StatusCode::GONE,
            "Expired",
            "<p>This checkout session has expired; nothing was paid.</p>",
        ),
        PayError::AlreadyComplete => (
            StatusCode::CONFLICT,
            "Already paid",
            "<p>This checkout session is already complete.</p>",
        ),
        PayError::Unavailable(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unavailable",
            "<p>The sandbox could not record this; try again.</p>",
        ),
    };
    page(status, title, body)
}

fn open_body(session: &Session) -> String {
    let action = format!("{}/pay/{}", super::MOUNT, escape(&session.id));
    let method_button = |method: PaymentMethod, label: &str, class: &str| {
        format!(
            "<form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"method\" value=\"{}\">\
             <button class=\"{class}\" type=\"submit\">{label}</button></form>",
            method.form_value()
        )
    };
    format!(
        "<p class=\"what\">{description}</p>\
         <p class=\"amount\">{amount}</p>\
         {card}{later_paid}{later_failed}\
         <form method=\"post\" action=\"{action}/cancel\">\
         <button class=\"back\" type=\"submit\">Cancel and go back</button></form>\
         <p class=\"note\">Sandbox: no money moves. Session <code>{id}</code>.</p>",
        description = escape(&session.description()),
        amount = escape(&format_amount(session.amount_total, &session.currency)),
        card = method_button(PaymentMethod::Card, "Pay by card", "pay"),
        later_paid = method_button(
            PaymentMethod::DelayedSuccess,
            "Pay by bank transfer (succeeds later)",
            "later"
        ),
        later_failed = method_button(
            PaymentMethod::DelayedFailure,
            "Pay by bank transfer (fails later)",
            "later"
        ),
        id = escape(&session.id),
    )
}

fn complete_body(session: &Session) -> String {
    let state = match session.payment_status {
        PaymentStatus::Paid => "paid",
        PaymentStatus::Unpaid => "awaiting its payment",
    };
    format!(
        "<p class=\"what\">{}</p><p>This checkout session is already complete ({state}).</p>\
         <p><a href=\"{}\">Back to the shop</a></p>",
        escape(&session.description()),
        escape(&session.success_redirect()),
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Boxoffice sandbox checkout</title><style>{STYLE}</style></head>\
         <body><main><h1>{title}</h1>{body}</main></body></html>"
    );
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(html)
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f4f6;margin:0}\
main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 4px #0002}h1{font-size:1.3rem;margin-top:0}.what{color:#444}\
.amount{font-size:2rem;font-weight:600;margin:.5rem 0 1.5rem}form{margin:.5rem 0}\
button{width:100%;padding:.7rem;border-radius:6px;border:1px solid #ccd;font-size:1rem;\
cursor:pointer;background:#fff}button.pay{background:#635bff;color:#fff;border:none}\
button.back{background:none;border:none;color:#555;text-decoration:underline}\
.note{color:#888;font-size:.8rem;margin-top:1.5rem}";

/// An amount in Stripe's units (the currency's smallest), for people.
fn format_amount(amount: i64, currency: &str) -> String {
    // Stripe counts these currencies in whole units, and these three in
    // thousandths; every other in hundredths.
    const ZERO_DECIMAL: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    const THREE_DECIMAL: &[&str] = &["bhd", "jod", "kwd", "omr", "tnd"];

    let code = currency.to_ascii_uppercase();
    let digits = if ZERO_DECIMAL.contains(&currency) {
        0
    } else if THREE_DECIMAL.contains(&currency) {
        3
    } else {
        2
    };
    if digits == 0 {
        return format!("{amount} {code}");
    }
    let scale = 10_i64.pow(digits);
    let sign = if amount < 0 { "-" } else { "" };
    let (whole, fraction) =
        (amount.unsigned_abs() / scale as u64, amount.unsigned_abs() % scale as u64);
    format!("{sign}{whole}.{fraction:0width$} {code}", width = digits as usize)
}

/// Text made safe inside HTML elements and quoted attributes.
fn escape(text: &str) -> String {
    html_escape::encode_quoted_attribute(text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_shown_in_the_currency_s_own_units() {
        assert_eq!(format_amount(12_345, "eur"), "123.45 EUR");
        assert_eq!(format_amount(5, "usd"), "0.05 USD");
        assert_eq!(format_amount(1_500, "jpy"), "1500 JPY");
        assert_eq!(format_amount(1_250, "kwd"), "1.250 KWD");
    }

    #[test]
    fn markup_in_text_is_escaped() {
        assert_eq!(
            escape("<b>\"Tom\" & 'Jerry'</b>"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#x27;Jerry&#x27;&lt;/b&gt;"
        );
    }

    #[test]
    fn the_method_comes_from_the_form() {
        assert_eq!(chosen_method(b"method=card"), Some(PaymentMethod::Card));
        assert_eq!(
            chosen_method(b"x=1&method=delayed_failure"),
            Some(PaymentMethod::DelayedFailure)
        );
        assert_eq!(chosen_method(b"method=cash"), None);
        assert_eq!(chosen_method(b"\xff\xfe"), None);
    }
}
