//! An add, shared by both route sets (`perfshop` and `minimal`): the product is
//! checked first (an unknown one writes nothing), a session without a cart gets
//! one and its record is written before the add, then the add runs as one
//! atomic step.

use std::time::Duration;

use super::{
    error::{ApiError, ApiResult},
    extract::CartSession,
    preconditions::CartWrite,
};
use crate::{
    cart::{
        add::{self, AddRequest, Added},
        model::ProductRef,
    },
    state::AppState,
};

/// An add of either API: the product is checked first (an unknown one writes
/// nothing), a session without a cart gets one and its record is written before
/// the add, then the add runs as one atomic step.
pub(super) async fn add_to_cart(
    state: &AppState,
    session: &mut CartSession,
    write: &CartWrite,
    body: &[u8],
    (product, quantity): (ProductRef, u32),
    with_cart: bool,
) -> ApiResult<Added> {
    let (snapshot, product) = add::product_to_add(&state.catalog, &product).await?;
    let (write, _hold) = session.begin(write, body)?;
    let cart = match session.cart() {
        Some(cart) => cart.clone(),
        None => {
            // TROLLEY_NEW_SESSIONS_PER_MINUTE (0: no limit): a bot cannot
            // fill Redis with sessions and carts.
            let per_minute = state.settings.new_sessions_per_minute;
            if session.is_new()
                && per_minute > 0
                && let Err(retry_after) = state
                    .stores
                    .limiter
                    .admit_new_session(&session.client(), Duration::from_secs(60), per_minute)
                    .await?
            {
                return Err(ApiError::TooManySessions {
                    retry_after_secs: retry_after.as_secs_f64().ceil() as u64,
                });
            }
            let cart = add::new_cart(state.carts(), &write, state.settings.session_max_age).await?;
            session.start_new_cart(&cart).await?;
            cart
        }
    };
    let added = add::add(
        state.carts(),
        &snapshot,
        AddRequest {
            cart: &cart,
            product,
            quantity,
            policy: session.policy(),
            write: &write,
            with_cart,
        },
    )
    .await?;
    if added.renumbered {
        session.start_cart(&added.cart).await?;
    }
    Ok(added)
}
