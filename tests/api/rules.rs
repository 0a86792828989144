//! The differential property test of the cart rules and the write gate: random
//! sequences of operations (add, set, remove, clear, a login merge under a
//! random rule, a checkout claim and its release, reads) on two carts, with random limits, each change sent with
//! a random write — an `Idempotency-Key` or none (a few keys, so keys are
//! reused, with the same request and with another), an `If-Match` or none (the
//! current version, a stale one, several, `*`, "0") — and then re-run with the
//! same operation id, as after a lost reply. Run against three implementations
//! at once:
//!
//! * the reference (`cart::gate` then `cart::rules`, pure functions, over a
//!   model of the two carts and the keys' records),
//! * the embedded store (which calls them inside its critical section),
//! * the Lua scripts, on a real redis-server.
//!
//! After every step the three must give the same answer and the same lines;
//! totals are exact decimals (Σ price × quantity), the limits hold, and a
//! repeated merge changes nothing.
//!
//! `TROLLEY_PROPTEST_CASES` sets the number of cases (default 96, enough to run in
//! a few seconds in `cargo test`); e.g. `TROLLEY_PROPTEST_CASES=20000 cargo test
//! --test api rules::` for a long run.

use std::{
    collections::HashMap,
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
    change::{Expect, Idempotency, RECENT_OPS, Version, Write, Written},
    claim::{ClaimEnd, ClaimEnded, ClaimId, ClaimStart, NewClaim},
    gate::{AtGate, KeyRecord, Standing, gate},
    model::{self, CartRef, Line, LineId, ProductId},
    rules::{
        self, AddOutcome, CartLines, Limits, LineChange, LineOutcome, MergeReport, MergeRule,
        NewItem,
    },
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
enum Change {
    Add { product: i64, quantity: u32 },
    Line { line: Index, change: LineChange },
    Clear,
}

#[derive(Debug, Clone)]
enum Op {
    Change {
        cart: usize,
        change: Change,
        write: WriteSpec,
    },
    Merge {
        rule: MergeRule,
    },
    /// A checkout claim of the cart (service API): while it holds, changes
    /// that would apply are refused (409), and a login merge involving it.
    Claim {
        cart: usize,
    },
    /// Releases the cart's last claim.
    Release {
        cart: usize,
    },
}

/// How a change is written, before each implementation resolves it against
/// its own cart (a version after a merge is each one's own).
#[derive(Debug, Clone)]
struct WriteSpec {
    /// One of a few `Idempotency-Key`s (of the cart), or none.
    key: Option<u8>,
    expect: ExpectSpec,
}

#[derive(Debug, Clone, Copy)]
enum ExpectSpec {
    Anything,
    /// `If-Match: *`.
    Exists,
    /// The cart's version before the change.
    Current,
    /// A version the cart never had.
    Stale,
    /// A stale version and the current one.
    Several,
    /// `If-Match: "0"`: no cart.
    NoCart,
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
        let change = prop_oneof![
            4 => (1i64..=7, 1u32..=max_quantity + 2)
                .prop_map(|(product, quantity)| Change::Add { product, quantity }),
            2 => (any::<Index>(), 1u32..=max_quantity).prop_map(|(line, quantity)| Change::Line {
                line,
                change: LineChange::SetQuantity(quantity),
            }),
            1 => any::<Index>().prop_map(|line| Change::Line { line, change: LineChange::Remove }),
            1 => Just(Change::Clear),
        ];
        let expect = prop_oneof![
            6 => Just(ExpectSpec::Anything),
            1 => Just(ExpectSpec::Exists),
            2 => Just(ExpectSpec::Current),
            1 => Just(ExpectSpec::Stale),
            1 => Just(ExpectSpec::Several),
            1 => Just(ExpectSpec::NoCart),
        ];
        let write = (prop::option::weighted(0.4, 0u8..3), expect)
            .prop_map(|(key, expect)| WriteSpec { key, expect });
        let op = prop_oneof![
            8 => (0usize..2, change, write)
                .prop_map(|(cart, change, write)| Op::Change { cart, change, write }),
            1 => prop::sample::select(MergeRule::ALL.to_vec()).prop_map(|rule| Op::Merge { rule }),
            1 => (0usize..2).prop_map(|cart| Op::Claim { cart }),
            1 => (0usize..2).prop_map(|cart| Op::Release { cart }),
        ];
        prop::collection::vec(op, 1..40).prop_map(move |ops| Case { limits, ops })
    })
}

/// A product's price: exact decimals with cents that binary floats cannot hold.
fn price(product: i64) -> Decimal {
    Decimal::from_str(&format!("{}.{:02}", product * 3, (product * 37) % 100)).expect("price")
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

/// A decision of the cart, as the three implementations' answers are compared.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Add(AddOutcome),
    Line(LineOutcome),
    Clear,
}

/// One step's answer, made comparable: versions are named (see `Names`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Written(Written<Outcome>),
    Merge(MergeReport),
    /// A claim's start: its kind, and for a claim the lines it holds and the
    /// cart's version.
    Claim(&'static str, Vec<Line>, Option<Version>),
    Release(ClaimEnded),
}

/// The reference: the two carts as the rules and the gate see them, and the
/// decisions kept under the keys.
#[derive(Default)]
struct Reference {
    carts: [CartLines; 2],
    /// Each cart's recent operations, newest first (its version).
    ops: [Vec<Version>; 2],
    /// Each cart's hash exists (a first add made it; a merge deleted the guest's).
    exists: [bool; 2],
    guest_merged: bool,
    records: HashMap<(usize, String), KeyRecord<Outcome>>,
    /// Each cart's last claim: its id, and whether it still holds the cart.
    claims: [Option<(ClaimId, bool)>; 2],
}

impl Reference {
    fn version(&self, cart: usize) -> Version {
        self.ops[cart]
            .first()
            .cloned()
            .unwrap_or_else(Version::none)
    }

    /// A change: the gate, then the rules, then the record of the decision.
    fn change(
        &mut self,
        (cart, stored): (usize, &CartRef),
        (change, line, item): (&Change, LineId, &NewItem),
        limits: &Limits,
        write: &Write,
    ) -> Written<Outcome> {
        let cart_id = stored.id.as_str();
        let at = AtGate {
            cart_id,
            standing: if cart == GUEST && self.guest_merged {
                Standing::Merged
            } else {
                Standing::Own
            },
            record: write
                .idempotency
                .as_ref()
                .and_then(|key| self.records.get(&(cart, key.key.clone())).cloned()),
            ops: &self.ops[cart],
            exists: self.exists[cart],
            claimed: self.holds_claim(cart),
            applies: match change {
                Change::Line { .. } => self.carts[cart].lines.iter().any(|l| l.id == line),
                Change::Add { .. } | Change::Clear => true,
            },
        };
        if let Some(stop) = gate(at, write) {
            return stop;
        }
        let lines = &mut self.carts[cart];
        let (outcome, changed) = match change {
            Change::Add { .. } => {
                let outcome = rules::add(lines, stored.no, item, limits);
                let added = matches!(outcome, AddOutcome::Added { .. });
                (Outcome::Add(outcome), added)
            }
            Change::Line { change, .. } => {
                let outcome = rules::change_line(lines, line, *change);
                let done = matches!(outcome, LineOutcome::Done(_));
                (Outcome::Line(outcome), done)
            }
            Change::Clear => {
                let had_lines = !lines.lines.is_empty();
                rules::clear(lines);
                (Outcome::Clear, had_lines)
            }
        };
        if changed {
            self.exists[cart] = true;
            self.ops[cart].insert(0, write.op.clone());
            self.ops[cart].truncate(RECENT_OPS);
        }
        let version = self.version(cart);
        // A quantity past the max is refused before the cart decides anything:
        // not recorded, so a corrected retry with the same key applies.
        let recorded = !matches!(outcome, Outcome::Add(AddOutcome::QuantityAboveMax));
        if let Some(key) = write.idempotency.as_ref().filter(|_| recorded) {
            self.records.insert(
                (cart, key.key.clone()),
                KeyRecord {
                    cart_id: cart_id.to_string(),
                    fingerprint: key.fingerprint.clone(),
                    decision: Some(outcome.clone()),
                    version: version.clone(),
                },
            );
        }
        Written::decided(outcome, version)
    }

    fn holds_claim(&self, cart: usize) -> bool {
        matches!(self.claims[cart], Some((_, true)))
    }

    /// A claim: a merged cart, one held by another claim, one without lines
    /// are refused; else the claim holds the cart's lines at its version.
    fn claim(&mut self, cart: usize, id: ClaimId) -> Answer {
        if cart == GUEST && self.guest_merged {
            return Answer::Claim("merged", Vec::new(), None);
        }
        if self.holds_claim(cart) {
            return Answer::Claim("busy", Vec::new(), None);
        }
        if self.carts[cart].lines.is_empty() {
            return Answer::Claim("empty", Vec::new(), None);
        }
        self.claims[cart] = Some((id, true));
        let mut lines = self.carts[cart].lines.clone();
        Line::sort(&mut lines);
        Answer::Claim("claimed", lines, Some(self.version(cart)))
    }

    fn release(&mut self, cart: usize) -> Answer {
        Answer::Release(match &mut self.claims[cart] {
            Some((_, holds)) => {
                *holds = false;
                ClaimEnded::Released
            }
            None => ClaimEnded::NotFound,
        })
    }

    fn merge(&mut self, rule: MergeRule, limits: &Limits, op: Version) -> MergeReport {
        if self.guest_merged {
            return MergeReport::already_merged();
        }
        // A claimed guest cart, or one with lines going into a claimed user
        // cart, is not merged (the login is refused).
        if self.holds_claim(GUEST)
            || (self.holds_claim(USER) && !self.carts[GUEST].lines.is_empty())
        {
            return MergeReport {
                claimed: true,
                ..MergeReport::default()
            };
        }
        let guest = std::mem::take(&mut self.carts[GUEST]);
        self.guest_merged = true;
        self.exists[GUEST] = false;
        self.ops[GUEST].clear();
        let report = rules::merge(&mut self.carts[USER], &guest.lines, rule, limits);
        // The user's cart exists from its first merge on, changed or not.
        self.exists[USER] = true;
        if report.lines_moved + report.lines_combined > 0 {
            self.ops[USER].insert(0, op);
            self.ops[USER].truncate(RECENT_OPS);
        }
        report
    }
}

/// Each implementation's names for versions: an operation id is the same in
/// all three (the test chooses it), but a login merge gives the user's cart a
/// version each implementation draws itself; it is named after the step.
#[derive(Default)]
struct Names(HashMap<String, String>);

impl Names {
    fn name(&self, version: Version) -> Version {
        match self.0.get(&version.0) {
            Some(name) => Version(name.clone()),
            None => version,
        }
    }

    fn answer(&self, written: Written<Outcome>) -> Answer {
        Answer::Written(match written {
            Written::Decided {
                outcome,
                version,
                replayed,
            } => Written::Decided {
                outcome,
                version: self.name(version),
                replayed,
            },
            Written::AlreadyApplied { version } => Written::AlreadyApplied {
                version: self.name(version),
            },
            other => other,
        })
    }
}

/// A step's write of `request` (what identifies it: its method, path and
/// body), resolved against a cart at `current`.
fn resolve(spec: &WriteSpec, request: &str, op: &Version, current: &Version) -> Write {
    let stale = Version("stale".into());
    Write {
        op: op.clone(),
        idempotency: spec.key.map(|key| Idempotency {
            key: format!("k{key}"),
            fingerprint: request.to_string(),
            ttl: Duration::from_secs(600),
        }),
        expect: match spec.expect {
            ExpectSpec::Anything => Expect::Anything,
            ExpectSpec::Exists => Expect::Exists,
            ExpectSpec::Current => Expect::OneOf(vec![current.clone()]),
            ExpectSpec::Stale => Expect::OneOf(vec![stale]),
            ExpectSpec::Several => Expect::OneOf(vec![stale, current.clone()]),
            ExpectSpec::NoCart => Expect::OneOf(vec![Version::none()]),
        },
        session: None,
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
    let mut reference = Reference::default();
    let stores = [
        ("embedded", &memory as &dyn CartStore),
        ("redis", redis as &dyn CartStore),
    ];
    let mut names = [Names::default(), Names::default()];
    let mut seen: Vec<LineId> = Vec::new();
    for (step, op) in case.ops.iter().enumerate() {
        let now_ms = 1_775_000_000_000 + step as i64;
        let op_id = Version(format!("op{step}"));
        match op {
            Op::Change {
                cart,
                change,
                write: spec,
            } => {
                let (line, item, request) = match change {
                    Change::Add { product, quantity } => (
                        LineId(0),
                        new_item(*product, *quantity, now_ms),
                        format!("add {product} x{quantity}"),
                    ),
                    Change::Line { line, change } => {
                        let line = pick_line(&seen, line);
                        (
                            line,
                            new_item(1, 1, now_ms),
                            format!("{change:?} {}", line.0),
                        )
                    }
                    Change::Clear => (LineId(0), new_item(1, 1, now_ms), "clear".to_string()),
                };
                let request = format!("cart {cart}: {request}");
                let write = resolve(spec, &request, &op_id, &reference.version(*cart));
                // The change, then the same change run again with its operation
                // id (as after a lost reply): never applied twice.
                let mut expected = Vec::new();
                for _ in 0..2 {
                    let answer = reference.change(
                        (*cart, &carts[*cart]),
                        (change, line, &item),
                        &case.limits,
                        &write,
                    );
                    expected.push(Answer::Written(answer));
                }
                for ((name, store), names) in stores.iter().zip(&names) {
                    let current = version_of(*store, &carts[*cart]).await?;
                    let write = resolve(spec, &request, &op_id, &current);
                    for (run, expected) in expected.iter().enumerate() {
                        let written = apply_change(
                            *store,
                            &carts[*cart],
                            (change, line, &item),
                            policy,
                            &write,
                        )
                        .await?;
                        prop_assert_eq!(
                            &names.answer(written),
                            expected,
                            "{} differs at step {} run {} ({:?})",
                            name,
                            step,
                            run,
                            op
                        );
                    }
                }
                if let [
                    Answer::Written(Written::Decided {
                        outcome: Outcome::Add(AddOutcome::Added { line, .. }),
                        ..
                    }),
                    _,
                ] = expected.as_slice()
                    && !seen.contains(&line.id)
                {
                    seen.push(line.id);
                }
            }
            Op::Merge { rule } => {
                let expected = Answer::Merge(reference.merge(*rule, &case.limits, op_id.clone()));
                for ((name, store), names) in stores.iter().zip(&mut names) {
                    let before = version_of(*store, &carts[USER]).await?;
                    let report = store
                        .merge_carts(&carts[GUEST], &carts[USER], *rule, policy)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(
                        &Answer::Merge(report),
                        &expected,
                        "{} differs at step {}",
                        name,
                        step
                    );
                    let after = version_of(*store, &carts[USER]).await?;
                    if after != before {
                        names.0.insert(after.0, op_id.0.clone());
                    }
                }
            }
            Op::Claim { cart } => {
                let id = ClaimId(format!("claim{step}"));
                let expected = reference.claim(*cart, id.clone());
                let claim = NewClaim {
                    id,
                    ttl: Duration::from_secs(600),
                    keep: Duration::from_secs(600),
                    expect: Expect::Anything,
                    request: String::new(),
                };
                for ((name, store), names) in stores.iter().zip(&names) {
                    let started = store
                        .claim_cart(&carts[*cart], &claim)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let answer = match started {
                        ClaimStart::Claimed {
                            mut lines, version, ..
                        } => {
                            Line::sort(&mut lines);
                            Answer::Claim("claimed", lines, Some(names.name(version)))
                        }
                        ClaimStart::Empty => Answer::Claim("empty", Vec::new(), None),
                        ClaimStart::Busy => Answer::Claim("busy", Vec::new(), None),
                        ClaimStart::Merged => Answer::Claim("merged", Vec::new(), None),
                        other => Answer::Claim(
                            if matches!(other, ClaimStart::Stale) {
                                "stale"
                            } else {
                                "key_reused"
                            },
                            Vec::new(),
                            None,
                        ),
                    };
                    prop_assert_eq!(
                        &answer,
                        &expected,
                        "{} differs at step {} ({:?})",
                        name,
                        step,
                        op
                    );
                }
            }
            Op::Release { cart } => {
                let id = reference.claims[*cart]
                    .as_ref()
                    .map_or_else(|| ClaimId("none".into()), |(id, _)| id.clone());
                let expected = reference.release(*cart);
                for (name, store) in stores {
                    let ended = store
                        .end_claim(&carts[*cart], &id, &ClaimEnd::Release, policy, &op_id)
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(
                        &Answer::Release(ended),
                        &expected,
                        "{} differs at step {} ({:?})",
                        name,
                        step,
                        op
                    );
                }
            }
        }
        let mut lines = Vec::new();
        for (name, store) in stores {
            for cart in &carts {
                lines.push((
                    name,
                    version_of(store, cart)
                        .await
                        .map(|v| names_of(&names, name).name(v))?,
                ));
            }
        }
        for (index, cart) in [GUEST, USER].into_iter().enumerate() {
            let expected = reference.version(cart);
            for (name, version) in [&lines[index], &lines[2 + index]] {
                prop_assert_eq!(
                    version,
                    &expected,
                    "{}'s version of cart {} after step {}",
                    name,
                    cart,
                    step
                );
            }
        }
        check_lines(&reference, &carts, &[&memory, redis], &case.limits, step).await?;
    }
    Ok(())
}

fn names_of<'a>(names: &'a [Names; 2], store: &str) -> &'a Names {
    &names[usize::from(store == "redis")]
}

/// A store's version of a cart, read (and its TTL slid).
async fn version_of(store: &dyn CartStore, cart: &CartRef) -> Result<Version, TestCaseError> {
    match store
        .read_cart(cart, Duration::from_secs(600), None)
        .await
        .map_err(|e| TestCaseError::fail(e.to_string()))?
    {
        CartRead::Lines { version, .. } => Ok(version),
        other => Err(TestCaseError::fail(format!("read {other:?}"))),
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

async fn apply_change(
    store: &dyn CartStore,
    cart: &CartRef,
    (change, line, item): (&Change, LineId, &NewItem),
    policy: CartPolicy,
    write: &Write,
) -> Result<Written<Outcome>, TestCaseError> {
    let fail = |e: trolley::testing::StoreError| TestCaseError::fail(e.to_string());
    Ok(match change {
        Change::Add { .. } => map(
            store
                .add_item(cart, item, policy, write, false)
                .await
                .map_err(fail)?,
            Outcome::Add,
        ),
        Change::Line { change, .. } => map(
            store
                .change_line(cart, line, *change, policy, write)
                .await
                .map_err(fail)?,
            Outcome::Line,
        ),
        Change::Clear => map(
            store.clear_cart(cart, policy, write).await.map_err(fail)?,
            |()| Outcome::Clear,
        ),
    })
}

/// A store's answer with its decision in the test's terms.
fn map<T>(written: Written<T>, outcome: impl FnOnce(T) -> Outcome) -> Written<Outcome> {
    match written {
        Written::Decided {
            outcome: decided,
            version,
            replayed,
        } => Written::Decided {
            outcome: outcome(decided),
            version,
            replayed,
        },
        Written::AlreadyApplied { version } => Written::AlreadyApplied { version },
        Written::Foreign => Written::Foreign,
        Written::Refused(refusal) => Written::Refused(refusal),
    }
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
