//! The differential property test of the cart rules: random sequences of
//! operations (add, set, remove, clear, a login merge under a random rule, reads)
//! on two carts, with random limits, run against three implementations at once:
//!
//! * the reference rules (`cart::rules`, pure functions over the lines),
//! * the embedded store (which calls them inside its critical section),
//! * the Lua scripts, on a real redis-server.
//!
//! After every step the three must give the same outcome and the same lines;
//! totals are exact decimals (Σ price × quantity), the limits hold, and a
//! repeated merge changes nothing.
//!
//! `TROLLEY_PROPTEST_CASES` sets the number of cases (default 96, enough to run in
//! a few seconds in `cargo test`); e.g. `TROLLEY_PROPTEST_CASES=20000 cargo test
//! --test api rules::` for a long run.

use std::{
    str::FromStr,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use libtest_mimic::{Failed, Trial};
use proptest::{
    prelude::*,
    sample::Index,
    test_runner::{Config, TestCaseError, TestRunner},
};
use rust_decimal::Decimal;
use trolley::testing::{
    CartPolicy, CartRead, CartStore, MemoryStore, RedisOptions, RedisStore,
    change::{Write, Written},
    model::{self, CartRef, Line, LineId, ProductId},
    rules::{self, CartLines, Limits, LineOutcome, MergeReport, MergeRule, NewItem},
};

use crate::helpers::RedisServer;

pub fn trials() -> Vec<Trial> {
    vec![Trial::test(
        "rules::the_reference_rules_the_embedded_store_and_the_lua_scripts_agree_step_by_step",
        || the_three_implementations_agree().map_err(Failed::from),
    )]
}

/// Cart 0 is the guest cart; a merge moves it into cart 1, the user's.
const GUEST: usize = 0;
const USER: usize = 1;

#[derive(Debug, Clone)]
enum Op {
    Add {
        cart: usize,
        product: i64,
        quantity: u32,
    },
    Set {
        cart: usize,
        line: Index,
        quantity: u32,
    },
    Remove {
        cart: usize,
        line: Index,
    },
    Clear {
        cart: usize,
    },
    Merge {
        rule: MergeRule,
    },
}

#[derive(Debug, Clone)]
struct Case {
    limits: Limits,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    (1u32..=12, 1u32..=5).prop_flat_map(|(max_quantity, max_lines)| {
        let limits = Limits {
            max_quantity,
            max_lines,
        };
        let cart = 0usize..2;
        let op = prop_oneof![
            4 => (cart.clone(), 1i64..=7, 1u32..=max_quantity + 2)
                .prop_map(|(cart, product, quantity)| Op::Add { cart, product, quantity }),
            2 => (cart.clone(), any::<Index>(), 1u32..=max_quantity)
                .prop_map(|(cart, line, quantity)| Op::Set { cart, line, quantity }),
            1 => (cart.clone(), any::<Index>()).prop_map(|(cart, line)| Op::Remove { cart, line }),
            1 => cart.prop_map(|cart| Op::Clear { cart }),
            1 => prop::sample::select(MergeRule::ALL.to_vec()).prop_map(|rule| Op::Merge { rule }),
        ];
        prop::collection::vec(op, 1..40).prop_map(move |ops| Case { limits, ops })
    })
}

/// A product's price: exact decimals with cents that binary floats cannot hold.
fn price(product: i64) -> Decimal {
    Decimal::from_str(&format!("{}.{:02}", product * 3, (product * 37) % 100)).expect("price")
}

/// The reference: the rules over two carts, and whether the guest cart is merged.
struct Reference {
    carts: [CartLines; 2],
    guest_merged: bool,
}

/// Every line id the case has seen (plus one nobody has), for set and remove.
fn pick_line(seen: &[LineId], index: &Index) -> LineId {
    let bogus = LineId((1 << 52) | 1);
    if seen.is_empty() {
        return bogus;
    }
    let i = index.index(seen.len() + 1);
    seen.get(i).copied().unwrap_or(bogus)
}

/// The three implementations' answers to one step, made comparable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Add(rules::AddOutcome),
    Line(LineOutcome),
    Clear(rules::ClearOutcome),
    Merge(MergeReport),
    /// A re-run of a change with the same operation id found it applied already.
    Again,
}

/// A store's answer to a change as the test compares it.
fn answer_of<T>(
    written: Written<T>,
    wrap: impl FnOnce(T) -> Answer,
) -> Result<Answer, TestCaseError> {
    match written {
        Written::Decided {
            outcome,
            replayed: false,
            ..
        } => Ok(wrap(outcome)),
        Written::AlreadyApplied { .. } => Ok(Answer::Again),
        other => Err(TestCaseError::fail(format!(
            "unexpected answer: {}",
            match other {
                Written::KeyReused => "key reused",
                Written::Stale => "stale",
                _ => "replayed",
            }
        ))),
    }
}

fn the_three_implementations_agree() -> Result<(), String> {
    let cases = std::env::var("TROLLEY_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(96);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let redis_server = runtime.block_on(RedisServer::start());
    let redis = runtime.block_on(async {
        let store = RedisStore::new(&RedisOptions {
            url: redis_server.url.clone(),
            password: None,
            ca_file: None,
            pool_size: 1,
            timeout: Duration::from_secs(2),
            wait_replicas: 0,
        })?;
        store
            .wait_connected(Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(store)
    })?;
    // Cart numbers unique to each case (and to this run, should the server be shared).
    let next_no = AtomicU64::new(1_000_000 + u64::from(std::process::id() % 1000) * 1_000_000);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case(), |case| {
            let base = next_no.fetch_add(2, Ordering::Relaxed);
            runtime.block_on(run_case(&redis, base, case))
        })
        .map_err(|e| e.to_string())
}

async fn run_case(redis: &RedisStore, base_no: u64, case: Case) -> Result<(), TestCaseError> {
    let memory = MemoryStore::new(None);
    let carts = [
        CartRef {
            no: base_no,
            id: format!("c{base_no}"),
        },
        CartRef {
            no: base_no + 1,
            id: format!("c{}", base_no + 1),
        },
    ];
    let policy = CartPolicy {
        ttl: Duration::from_secs(600),
        limits: case.limits,
    };
    let mut reference = Reference {
        carts: [CartLines::default(), CartLines::default()],
        guest_merged: false,
    };
    let mut seen: Vec<LineId> = Vec::new();
    for (step, op) in case.ops.iter().enumerate() {
        let now_ms = 1_775_000_000_000 + step as i64;
        let before = [
            reference.carts[0].lines.clone(),
            reference.carts[1].lines.clone(),
        ];
        let expected = apply_reference(&mut reference, &carts, op, &seen, now_ms, &case.limits);
        // The same change run again with its operation id (as after a lost
        // reply) is never applied twice: a change answers "already applied", a
        // refusal is decided again.
        let changed = match &expected {
            Answer::Add(rules::AddOutcome::Added(_)) | Answer::Line(LineOutcome::Done(_)) => true,
            Answer::Clear(rules::ClearOutcome::Cleared) => {
                before
                    != [
                        reference.carts[0].lines.clone(),
                        reference.carts[1].lines.clone(),
                    ]
            }
            _ => false,
        };
        let write = Write::plain();
        for (name, store) in [
            ("embedded", &memory as &dyn CartStore),
            ("redis", redis as &dyn CartStore),
        ] {
            let answer = apply_store(store, &carts, op, &seen, now_ms, policy, &write).await?;
            prop_assert_eq!(
                &answer,
                &expected,
                "{} differs at step {} ({:?})",
                name,
                step,
                op
            );
            if !matches!(op, Op::Merge { .. }) {
                let again = apply_store(store, &carts, op, &seen, now_ms, policy, &write).await?;
                let expected_again = if changed {
                    Answer::Again
                } else {
                    expected.clone()
                };
                prop_assert_eq!(
                    &again,
                    &expected_again,
                    "{} re-run at step {} ({:?})",
                    name,
                    step,
                    op
                );
            }
        }
        if let Answer::Add(rules::AddOutcome::Added(line)) = &expected
            && !seen.contains(&line.id)
        {
            seen.push(line.id);
        }
        check_lines(&reference, &carts, &[&memory, redis], &case.limits, step).await?;
    }
    Ok(())
}

fn apply_reference(
    reference: &mut Reference,
    carts: &[CartRef; 2],
    op: &Op,
    seen: &[LineId],
    now_ms: i64,
    limits: &Limits,
) -> Answer {
    let merged = |cart: usize, reference: &Reference| cart == GUEST && reference.guest_merged;
    match op {
        Op::Add {
            cart,
            product,
            quantity,
        } => Answer::Add(if merged(*cart, reference) {
            rules::AddOutcome::CartMerged
        } else {
            rules::add(
                &mut reference.carts[*cart],
                carts[*cart].no,
                &new_item(*product, *quantity, now_ms),
                limits,
            )
        }),
        Op::Set {
            cart,
            line,
            quantity,
        } => Answer::Line(if merged(*cart, reference) {
            LineOutcome::CartMerged
        } else {
            rules::set_quantity(
                &mut reference.carts[*cart],
                pick_line(seen, line),
                *quantity,
            )
        }),
        Op::Remove { cart, line } => Answer::Line(if merged(*cart, reference) {
            LineOutcome::CartMerged
        } else {
            rules::remove(&mut reference.carts[*cart], pick_line(seen, line))
        }),
        Op::Clear { cart } => Answer::Clear(if merged(*cart, reference) {
            rules::ClearOutcome::CartMerged
        } else {
            rules::clear(&mut reference.carts[*cart]);
            rules::ClearOutcome::Cleared
        }),
        Op::Merge { rule } => Answer::Merge(if reference.guest_merged {
            MergeReport::already_merged()
        } else {
            let guest = std::mem::take(&mut reference.carts[GUEST]);
            reference.guest_merged = true;
            rules::merge(&mut reference.carts[USER], &guest.lines, *rule, limits)
        }),
    }
}

fn new_item(product: i64, quantity: u32, now_ms: i64) -> NewItem {
    NewItem {
        product_id: ProductId(product),
        quantity,
        price: price(product),
        now_ms,
    }
}

async fn apply_store(
    store: &dyn CartStore,
    carts: &[CartRef; 2],
    op: &Op,
    seen: &[LineId],
    now_ms: i64,
    policy: CartPolicy,
    write: &Write,
) -> Result<Answer, TestCaseError> {
    let fail = |e: String| TestCaseError::fail(e);
    Ok(match op {
        Op::Add {
            cart,
            product,
            quantity,
        } => answer_of(
            store
                .add_item(
                    &carts[*cart],
                    &new_item(*product, *quantity, now_ms),
                    policy,
                    write,
                    false,
                )
                .await
                .map_err(|e| fail(e.to_string()))?,
            |decision| Answer::Add(decision.outcome),
        )?,
        Op::Set {
            cart,
            line,
            quantity,
        } => answer_of(
            store
                .set_quantity(
                    &carts[*cart],
                    pick_line(seen, line),
                    *quantity,
                    policy,
                    write,
                )
                .await
                .map_err(|e| fail(e.to_string()))?,
            Answer::Line,
        )?,
        Op::Remove { cart, line } => answer_of(
            store
                .remove_line(&carts[*cart], pick_line(seen, line), policy, write)
                .await
                .map_err(|e| fail(e.to_string()))?,
            Answer::Line,
        )?,
        Op::Clear { cart } => answer_of(
            store
                .clear_cart(&carts[*cart], policy, write)
                .await
                .map_err(|e| fail(e.to_string()))?,
            Answer::Clear,
        )?,
        Op::Merge { rule } => Answer::Merge(
            store
                .merge_carts(&carts[GUEST], &carts[USER], *rule, policy)
                .await
                .map_err(|e| fail(e.to_string()))?,
        ),
    })
}

/// Both carts hold the same lines everywhere, within the limits, with exact totals.
async fn check_lines(
    reference: &Reference,
    carts: &[CartRef; 2],
    stores: &[&dyn CartStore],
    limits: &Limits,
    step: usize,
) -> Result<(), TestCaseError> {
    for (index, cart) in carts.iter().enumerate() {
        let mut expected = reference.carts[index].lines.clone();
        Line::sort(&mut expected);
        prop_assert!(expected.len() <= limits.max_lines as usize);
        prop_assert!(
            expected
                .iter()
                .all(|l| l.quantity >= 1 && l.quantity <= limits.max_quantity)
        );
        let expected_total: Decimal = expected
            .iter()
            .map(|l| price(l.product_id.0) * Decimal::from(l.quantity))
            .sum();
        for store in stores {
            let read = store
                .read_cart(cart, Duration::from_secs(600), None)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            let CartRead::Lines { mut lines, .. } = read else {
                return Err(TestCaseError::fail(format!("cart {index} read as foreign")));
            };
            Line::sort(&mut lines);
            prop_assert_eq!(&lines, &expected, "cart {} after step {}", index, step);
            let total = model::total(&lines);
            prop_assert_eq!(
                total.normalize().to_string(),
                expected_total.normalize().to_string()
            );
        }
    }
    Ok(())
}
