//! Signing up.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserRequest {
    name: String,
    email: String,
    phone: String,
}

#[derive(Serialize)]
pub(super) struct NewUserView {
    id: u32,
    name: String,
    email: String,
    phone: String,
    /// Shown once; only its digest is kept.
    token: String,
}

pub(super) async fn register(state: State, body: Body<UserRequest>) -> Answer {
    let body = body.0;
    let name = text("name", &body.name, 200)?;
    let email = email(&body.email)?;
    let phone = phone(&body.phone)?;

    let (secret, digest) = auth::new_secret();
    let user = state.office.register_user(name, email, phone, digest).await?;
    tracing::info!(user = %user.id, "user registered");
    let token = auth::user_token(user.id, &secret);
    let view =
        NewUserView { id: user.id.0, name: user.name, email: user.email, phone: user.phone, token };
    Ok(HttpResponse::Created().json(view))
}

fn email(value: &str) -> Result<String, Problem> {
    let email = text("email", value, 254)?;
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.contains(char::is_whitespace)
        }
        None => false,
    };
    if !valid {
        return Err(Problem::invalid("email", "email must be an address such as ada@example.org"));
    }
    Ok(email)
}

fn phone(value: &str) -> Result<String, Problem> {
    let phone = text("phone", value, 32)?;
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(6..=15).contains(&digits) {
        return Err(Problem::invalid("phone", "phone must be a number such as +41 44 668 18 00"));
    }
    Ok(phone)
}
