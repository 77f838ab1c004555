//! Bearer tokens: a user's, and the admin's.
//!
//! A user's token is `{user_id}.{secret}`. Only the SHA-256 of the secret is
//! kept, so the stored data cannot be used to sign in. Carrying the id in
//! the token lets us tell a wrong token (401) from a good token of another
//! user (403) without an index of tokens.

use actix_web::http::header;
use actix_web::HttpRequest;
use engine::box_office::BoxOffice;
use engine::ids::UserId;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::problem::Problem;

/// A new secret token for a user-to-be, and the digest to store. The id is
/// added to the token once the user has one.
pub fn new_secret() -> (String, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    let digest = sha256(&secret);
    (secret, digest)
}

pub fn user_token(user: UserId, secret: &str) -> String {
    format!("{user}.{secret}")
}

fn sha256(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn bearer(request: &HttpRequest) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks that the request carries `user`'s own token.
pub fn authorize_user(
    office: &BoxOffice,
    request: &HttpRequest,
    user: UserId,
) -> Result<(), Problem> {
    let token =
        bearer(request).ok_or_else(|| Problem::unauthorized("a bearer token is required"))?;
    let invalid = || Problem::unauthorized("the bearer token is not valid");

    let (id, secret) = token.split_once('.').ok_or_else(invalid)?;
    let owner: UserId = id.parse().map_err(|_| invalid())?;
    let record = office.user(owner).ok_or_else(invalid)?;
    if record.token_sha256 != sha256(secret) {
        return Err(invalid());
    }

    if owner != user {
        return Err(Problem::forbidden("this token belongs to another user"));
    }
    Ok(())
}

/// Checks the admin token. With none configured, admin calls are refused.
pub fn authorize_admin(admin_token: Option<&str>, request: &HttpRequest) -> Result<(), Problem> {
    let Some(expected) = admin_token else {
        return Err(Problem::forbidden("admin calls are disabled: the server has no admin token"));
    };
    let given =
        bearer(request).ok_or_else(|| Problem::unauthorized("a bearer token is required"))?;

    // Comparing digests keeps the comparison's time independent of how
    // much of the token a guess got right.
    if sha256(given) != sha256(expected) {
        return Err(Problem::forbidden("this token is not the admin token"));
    }
    Ok(())
}
