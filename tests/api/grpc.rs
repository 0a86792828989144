//! gRPC on the service port (API.md v1.2), over real h2c connections with the
//! generated tonic clients: Online Boutique's own cart-service tests against
//! both demo packages, trolley's `CartService`, tokens, health and the status
//! mapping, on every backend.

use libtest_mimic::Trial;
use reqwest::StatusCode;
use tonic::{Code, Request, metadata::MetadataValue, transport::Channel};
use trolley::proto::{
    hipstershop, oteldemo,
    trolley::cart::v1::{self as pb, cart_service_client::CartServiceClient},
};

use crate::helpers::{Backend, Browser, SERVICE_TOKEN, TestApp};

pub fn trials() -> Vec<Trial> {
    contract_suite![
        online_boutiques_cart_service_tests_pass_on_both_demo_packages,
        a_demo_cart_is_the_ext_cart_of_the_json_routes,
        trolleys_cart_service_changes_and_claims_a_cart,
        calls_need_a_token_but_health_checks_do_not,
    ]
}

async fn channel(app: &TestApp) -> Channel {
    Channel::from_shared(app.service.clone())
        .expect("url")
        .connect()
        .await
        .expect("h2c connection to the service port")
}

/// A request carrying the test token.
fn authorized<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {SERVICE_TOKEN}")).expect("ascii"),
    );
    request
}

/// Online Boutique's `CartServiceTests.cs`, against a demo package's client.
macro_rules! boutique_tests {
    ($package:ident, $channel:expr, $user:expr) => {{
        use $package::{
            AddItemRequest, Cart, CartItem, EmptyCartRequest, GetCartRequest,
            cart_service_client::CartServiceClient,
        };
        let mut client = CartServiceClient::new($channel);
        let user = $user.to_string();
        // GetItem_NoAddItemBefore_EmptyCartReturned
        let cart = client
            .get_cart(authorized(GetCartRequest {
                user_id: user.clone(),
            }))
            .await
            .expect("get")
            .into_inner();
        assert_eq!(cart, Cart::default(), "a new user's cart is the empty Cart");
        // AddItem_ItemExists_Updated
        let add = |quantity| {
            authorized(AddItemRequest {
                user_id: user.clone(),
                item: Some(CartItem {
                    product_id: "apple".into(),
                    quantity,
                }),
            })
        };
        client.add_item(add(1)).await.expect("add");
        client.add_item(add(2)).await.expect("add again");
        let cart = client
            .get_cart(authorized(GetCartRequest {
                user_id: user.clone(),
            }))
            .await
            .expect("get")
            .into_inner();
        assert_eq!(cart.user_id, user);
        assert_eq!(
            cart.items,
            vec![CartItem {
                product_id: "apple".into(),
                quantity: 3
            }]
        );
        // AddItem_EmptyCart_ItemAdded, then EmptyCart
        client
            .empty_cart(authorized(EmptyCartRequest {
                user_id: user.clone(),
            }))
            .await
            .expect("empty");
        let cart = client
            .get_cart(authorized(GetCartRequest {
                user_id: user.clone(),
            }))
            .await
            .expect("get")
            .into_inner();
        assert!(cart.items.is_empty(), "{cart:?}");
        // A numeric product id names the product whose id it is; an unknown
        // product is NOT_FOUND, a quantity under 1 INVALID_ARGUMENT.
        let by_id = AddItemRequest {
            user_id: user.clone(),
            item: Some(CartItem {
                product_id: "42".into(),
                quantity: 1,
            }),
        };
        client.add_item(authorized(by_id)).await.expect("by id");
        let unknown = AddItemRequest {
            user_id: user.clone(),
            item: Some(CartItem {
                product_id: "KIWI".into(),
                quantity: 1,
            }),
        };
        let status = client.add_item(authorized(unknown)).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        let none = AddItemRequest {
            user_id: user.clone(),
            item: Some(CartItem {
                product_id: "apple".into(),
                quantity: 0,
            }),
        };
        let status = client.add_item(authorized(none)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    }};
}

async fn online_boutiques_cart_service_tests_pass_on_both_demo_packages(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let channel = channel(&app).await;
    boutique_tests!(hipstershop, channel.clone(), "boutique-user");
    boutique_tests!(oteldemo, channel, "otel-demo-user");
}

async fn a_demo_cart_is_the_ext_cart_of_the_json_routes(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut client = hipstershop::cart_service_client::CartServiceClient::new(channel(&app).await);
    client
        .add_item(authorized(hipstershop::AddItemRequest {
            user_id: "shopper/7".into(),
            item: Some(hipstershop::CartItem {
                product_id: "banana".into(),
                quantity: 4,
            }),
        }))
        .await
        .expect("add");
    let mut service = Browser::new(&app.service);
    let reply = service
        .get("/v1/carts/ext/shopper%2F7")
        .header("Authorization", &format!("Bearer {SERVICE_TOKEN}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let cart = reply.json();
    assert_eq!(cart["owner"], "ext/shopper/7");
    assert_eq!(cart["items"][0]["sku"], "banana");
    assert_eq!(cart["items"][0]["quantity"], 4);
}

async fn trolleys_cart_service_changes_and_claims_a_cart(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let mut client = CartServiceClient::new(channel(&app).await);
    let owner = "ext/order-svc-1".to_string();
    let added = client
        .add_item(authorized(pb::AddItemRequest {
            owner: owner.clone(),
            product: Some(pb::add_item_request::Product::ProductId(42)),
            quantity: 2,
        }))
        .await
        .expect("add")
        .into_inner();
    let line = added.line.expect("the line");
    assert_eq!((line.product_id, line.quantity), (42, 2));
    assert_eq!(line.price, "149.99", "money as exact text");
    // A retry with the same Idempotency-Key applies nothing.
    for _ in 0..2 {
        let mut request = authorized(pb::AddItemRequest {
            owner: owner.clone(),
            product: Some(pb::add_item_request::Product::Sku("apple".into())),
            quantity: 1,
        });
        request
            .metadata_mut()
            .insert("idempotency-key", MetadataValue::from_static("grpc-once"));
        client.add_item(request).await.expect("keyed add");
    }
    let cart = client
        .get_cart(authorized(pb::GetCartRequest {
            owner: owner.clone(),
        }))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(cart.item_count, 2);
    assert_eq!(cart.total, "300.48");
    // A stale If-Match is FAILED_PRECONDITION and changes nothing.
    let mut stale = authorized(pb::SetQuantityRequest {
        owner: owner.clone(),
        line_id: line.id,
        quantity: 5,
    });
    stale.metadata_mut().insert(
        "if-match",
        MetadataValue::from_static("\"not-the-version\""),
    );
    let status = client.set_quantity(stale).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "The cart has changed");
    // Claim, refuse a change while claimed, complete once.
    let claim = client
        .checkout(authorized(pb::CheckoutRequest {
            owner: owner.clone(),
            ttl: "10m".into(),
        }))
        .await
        .expect("claim")
        .into_inner();
    assert_eq!(claim.items.len(), 2);
    assert_eq!(claim.total, "300.48");
    let status = client
        .clear_cart(authorized(pb::ClearCartRequest {
            owner: owner.clone(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(status.message(), "Cart is being checked out");
    let complete = || {
        authorized(pb::CompleteCheckoutRequest {
            owner: owner.clone(),
            claim_id: claim.claim_id.clone(),
            order_id: "order-1".into(),
        })
    };
    let completed = client
        .complete_checkout(complete())
        .await
        .expect("complete");
    assert_eq!(completed.into_inner().item_count, 2);
    client
        .complete_checkout(complete())
        .await
        .expect("the same order again");
    let cart = client
        .get_cart(authorized(pb::GetCartRequest {
            owner: owner.clone(),
        }))
        .await
        .expect("get")
        .into_inner();
    assert!(cart.items.is_empty());
    assert!(cart.checkout.is_none());
    // Bad input: INVALID_ARGUMENT; an unknown claim: NOT_FOUND.
    let status = client
        .get_cart(authorized(pb::GetCartRequest {
            owner: "nobody".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let status = client
        .release_checkout(authorized(pb::ReleaseCheckoutRequest {
            owner: owner.clone(),
            claim_id: "k0000000000000000".into(),
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(status.code(), Code::NotFound | Code::InvalidArgument),
        "{status:?}"
    );
}

async fn calls_need_a_token_but_health_checks_do_not(backend: Backend) {
    let (app, _store) = TestApp::on(backend).await;
    let channel = channel(&app).await;
    let mut client = CartServiceClient::new(channel.clone());
    let status = client
        .get_cart(Request::new(pb::GetCartRequest {
            owner: "ext/x".into(),
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut wrong = Request::new(pb::GetCartRequest {
        owner: "ext/x".into(),
    });
    wrong
        .metadata_mut()
        .insert("authorization", MetadataValue::from_static("Bearer nope"));
    assert_eq!(
        client.get_cart(wrong).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    for service in ["", "trolley.cart.v1.CartService", "hipstershop.CartService"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .expect("health without a token")
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "{service}"
        );
    }
}
