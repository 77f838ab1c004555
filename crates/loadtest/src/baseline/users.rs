//! Users of the baseline and their bearer tokens, as Boxoffice has them: a
//! token is `{user_id}.{secret}` and only the SHA-256 of the secret is kept
//! (in `users.token_sha256`, and in a process cache once read).
//!
//! This is the baseline (the design Boxoffice replaces), not the product.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use mysql_async::prelude::Queryable;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::catalogue::text;
use super::db::is_duplicate;
use super::problem::{Body, Problem};
use super::routes::{path_id, Answer, State};

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn bearer(request: &HttpRequest) -> Option<String> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}

/// The digest of user `id`'s secret, from the cache or else the database.
async fn token_digest(state: &State, id: u32) -> Result<Option<[u8; 32]>, Problem> {
    if let Some(digest) = state.shared.users.read().get(&id) {
        return Ok(Some(*digest));
    }
    let stored: Option<Vec<u8>> = state
        .pool
        .get_conn()
        .await?
        .exec_first("SELECT token_sha256 FROM users WHERE id = ?", (id,))
        .await?;
    let Some(digest) = stored.and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) else {
        return Ok(None);
    };
    state.shared.users.write().insert(id, digest);
    Ok(Some(digest))
}

/// Checks that `token` is the token of the user named in the path: 401 for
/// no token or a wrong one, 403 for a good token of another user.
async fn authorize(state: &State, path_user: &str, token: Option<&str>) -> Result<u32, Problem> {
    let user = path_id(path_user, "user")?;
    let token = token.ok_or_else(|| Problem::unauthorized("a bearer token is required"))?;
    let invalid = || Problem::unauthorized("the bearer token is not valid");
    let (id, secret) = token.split_once('.').ok_or_else(invalid)?;
    let owner = super::views::parse_u32(id).ok_or_else(invalid)?;
    let digest = token_digest(state, owner).await?.ok_or_else(invalid)?;
    if digest != sha256(secret) {
        return Err(invalid());
    }
    if owner != user {
        return Err(Problem::forbidden("this token belongs to another user"));
    }
    Ok(user)
}

/// The caller of a `/users/{user}/…` route, checked before the body.
pub struct Caller(pub u32);

impl FromRequest for Caller {
    type Error = Problem;
    type Future = Pin<Box<dyn Future<Output = Result<Caller, Problem>>>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<State>().expect("the app has its state").clone();
        let user = request.match_info().get("user").unwrap_or_default().to_owned();
        let token = bearer(request);
        Box::pin(async move { authorize(&state, &user, token.as_deref()).await.map(Caller) })
    }
}

/// Proof that a request carries the admin token, checked before the body.
pub struct Admin;

impl FromRequest for Admin {
    type Error = Problem;
    type Future = std::future::Ready<Result<Admin, Problem>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let state = request.app_data::<State>().expect("the app has its state");
        let expected = state.shared.admin_token.as_deref();
        std::future::ready(authorize_admin(expected, bearer(request).as_deref()).map(|()| Admin))
    }
}

fn authorize_admin(expected: Option<&str>, given: Option<&str>) -> Result<(), Problem> {
    let Some(expected) = expected else {
        return Err(Problem::forbidden("admin calls are disabled: the server has no admin token"));
    };
    let given = given.ok_or_else(|| Problem::unauthorized("a bearer token is required"))?;
    // Digests, so the comparison takes the same time however much a guess got right.
    if sha256(given) != sha256(expected) {
        return Err(Problem::forbidden("this token is not the admin token"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    name: String,
    email: String,
    phone: String,
}

#[derive(Serialize)]
struct NewUserView {
    id: u32,
    name: String,
    email: String,
    phone: String,
    token: String,
}

pub async fn register(state: State, body: Body<UserRequest>) -> Answer {
    let body = body.0;
    let name = text("name", &body.name, 200)?;
    let email = text("email", &body.email, 254)?;
    if !email.contains('@') || email.contains(char::is_whitespace) {
        return Err(Problem::invalid("email", "email must be an address such as ada@example.org"));
    }
    let phone = text("phone", &body.phone, 32)?;

    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let digest = sha256(&secret);

    let mut conn = state.pool.get_conn().await?;
    let inserted = conn
        .exec_drop(
            "INSERT INTO users (name, email, phone, token_sha256) VALUES (?, ?, ?, ?)",
            (&name, &email, &phone, &digest[..]),
        )
        .await;
    match inserted {
        Err(error) if is_duplicate(&error) => {
            let problem = Problem::new(StatusCode::CONFLICT, "email-taken", "this email is taken");
            return Err(problem.with("field", "email"));
        }
        other => other?,
    }
    let id = conn.last_insert_id().unwrap_or_default() as u32;
    state.shared.users.write().insert(id, digest);
    let token = format!("{id}.{secret}");
    Ok(HttpResponse::Created().json(NewUserView { id, name, email, phone, token }))
}
