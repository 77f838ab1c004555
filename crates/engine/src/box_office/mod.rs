//! The engine's front door: routes each command to the actor that owns its
//! performance, keeps the catalogue and the users, and rebuilds everything
//! from the journal at start-up.
//!
//! Actors live on a fixed set of arbiters (threads), one city per arbiter,
//! so one city's traffic stays on one thread and cities spread over cores.
//! How many requests may wait for one performance is bounded: past
//! `max_in_flight` a request is refused at once as [`BookingError::Overloaded`]
//! rather than queued without end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Arbiter, ArbiterHandle, Handler, Message};
use arc_swap::ArcSwap;
use parking_lot::{Mutex, RwLock};
use tokio::sync::oneshot;

use crate::actor::{
    ActorDeps, Availability, CommandError, CompletePurchase, ListTickets, PerformanceActor,
    QuotePurchase, Release, Reply, Reserve, TakeSnapshot,
};
use crate::availability::PublishedAvailability;
use crate::booking::{
    Booking, BookingSnapshot, Purchase, Rejection, Reservation, Selection, TicketStatus,
};
use crate::catalogue::{
    Catalogue, City, Currency, Layout, LayoutError, PerformanceInfo, SeatPlan, Venue,
};
use crate::events::{Event, User};
use crate::ids::{CityId, PerformanceId, TicketId, UserId, VenueId};
use crate::index::{Holding, TicketIndex, UserTickets};
use crate::journal::{Checkpoint, Journal, JournalError};
use crate::payment::{
    Charge, CheckoutProvider, PaymentOutcome, PaymentProvider, ProviderError, UnsupportedCurrency,
};
use crate::recovery::{replay, Replayed};
pub use crate::recovery::{Recovered, RecoveryError};
use crate::time::{Clock, Timestamp};
use crate::users::Users;

mod checkout;
pub use checkout::{CheckoutStarted, CheckoutUrls, OwedCallFailed, SessionOutcome};

/// How the engine runs; every field is a choice the operator can make.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// How long a hold lasts before it lapses.
    pub hold_ttl: Duration,
    /// How many requests may wait for one performance at once.
    pub max_in_flight: usize,
    /// How many arbiters (threads) the performance actors spread over.
    pub shard_count: usize,
    /// How long a checkout's tickets stay held while the buyer pays.
    pub checkout_ttl: Duration,
}

/// What the engine talks to outside itself.
#[derive(Clone)]
pub struct EngineDeps {
    pub journal: Arc<dyn Journal>,
    pub clock: Arc<dyn Clock>,
    pub payments: Arc<dyn PaymentProvider>,
    /// Where checkouts are paid: a hosted payment page and its webhooks.
    pub checkout: Arc<dyn CheckoutProvider>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error("no performance {0}")]
    UnknownPerformance(PerformanceId),
    #[error("too many requests are waiting for this performance")]
    Overloaded,
    #[error(transparent)]
    Stopped(#[from] JournalError),
    #[error("the payment was declined: {reason}")]
    PaymentDeclined { reason: String },
    #[error("the payment provider could not be reached: {reason}")]
    PaymentFailed { reason: String },
    #[error(transparent)]
    CurrencyNotAccepted(#[from] UnsupportedCurrency),
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl From<CommandError> for BookingError {
    fn from(error: CommandError) -> BookingError {
        match error {
            CommandError::Rejected(rejection) => BookingError::Rejected(rejection),
            CommandError::Journal(error) => BookingError::Stopped(error),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("no city {0}")]
    UnknownCity(CityId),
    #[error("no venue {0}")]
    UnknownVenue(VenueId),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Stopped(#[from] JournalError),
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    #[error("a user with this email address exists already")]
    EmailTaken,
    #[error(transparent)]
    Stopped(#[from] JournalError),
}

/// A city as an admin asks for it.
#[derive(Clone, Debug)]
pub struct NewCity {
    pub name: String,
    pub country: String,
    pub time_zone: String,
    pub currency: Currency,
}

/// A performance as an admin asks for it, its start already resolved.
#[derive(Clone, Debug)]
pub struct NewPerformance {
    pub title: String,
    pub start_local: String,
    pub start: Timestamp,
    pub utc_offset_seconds: i32,
    pub on_sale: Timestamp,
    pub order_max: u32,
    pub user_max: u32,
}

/// The route to one performance's actor.
#[derive(Clone)]
pub struct PerformanceHandle {
    pub info: Arc<PerformanceInfo>,
    pub plan: Arc<SeatPlan>,
    pub currency: Currency,
    addr: Addr<PerformanceActor>,
    availability: Arc<PublishedAvailability>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: usize,
}

/// Counts a request as waiting for its actor until dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PerformanceHandle {
    fn enter(&self) -> Result<InFlight, BookingError> {
        let waiting = self.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(self.in_flight.clone());
        if waiting >= self.max_in_flight {
            metrics::counter!("engine_requests_shed_total").increment(1);
            return Err(BookingError::Overloaded);
        }
        Ok(guard)
    }

    /// Sends a message built around a reply channel and waits for the reply,
    /// refusing at once when too many are already waiting.
    async fn ask<T, M>(
        &self,
        message: impl FnOnce(oneshot::Sender<T>) -> M,
    ) -> Result<T, BookingError>
    where
        M: Message<Result = ()> + Send + 'static,
        PerformanceActor: Handler<M>,
        <PerformanceActor as Actor>::Context: ToEnvelope<PerformanceActor, M>,
    {
        let _waiting = self.enter()?;

        let (reply, answer) = oneshot::channel();
        self.addr.try_send(message(reply)).map_err(|_| BookingError::Overloaded)?;
        answer.await.map_err(|_| {
            BookingError::Stopped(JournalError::new("the performance's actor has stopped"))
        })
    }

    async fn command<T, M>(&self, message: impl FnOnce(Reply<T>) -> M) -> Result<T, BookingError>
    where
        M: Message<Result = ()> + Send + 'static,
        PerformanceActor: Handler<M>,
        <PerformanceActor as Actor>::Context: ToEnvelope<PerformanceActor, M>,
    {
        Ok(self.ask(message).await??)
    }
}

/// The engine; cheap to clone, one per process.
#[derive(Clone)]
pub struct BoxOffice {
    inner: Arc<Inner>,
}

/// One city shard: the thread its performances' actors run on, and the
/// index of the tickets they hold for users. On one thread, an actor's
/// events reach its index without waking another.
struct Shard {
    arbiter: ArbiterHandle,
    index: Addr<TicketIndex>,
}

struct Inner {
    config: EngineConfig,
    deps: EngineDeps,
    shards: Vec<Shard>,
    /// Written by admins, under this lock, one change at a time.
    catalogue: RwLock<Catalogue>,
    plans: RwLock<HashMap<VenueId, Arc<SeatPlan>>>,
    /// The routing table, read on every booking without a lock: replaced
    /// whole when a performance is added, which is rare.
    performances: ArcSwap<HashMap<PerformanceId, PerformanceHandle>>,
    users: Users,
    /// Per performance, the `seq` of its last durable snapshot.
    snapshot_seqs: Mutex<HashMap<PerformanceId, u64>>,
    /// Keeps checkpoints one at a time.
    checkpointing: tokio::sync::Mutex<()>,
}

impl BoxOffice {
    /// Rebuilds the state the journal describes and starts every actor.
    /// Must run inside an actix system.
    pub fn start(
        config: EngineConfig,
        deps: EngineDeps,
        recovered: Recovered,
    ) -> Result<BoxOffice, RecoveryError> {
        let Replayed { catalogue, plans, users, bookings, snapshot_seqs } = replay(recovered)?;

        let shards = start_shards(config.shard_count.max(1), &bookings);

        let inner = Arc::new(Inner {
            config,
            deps,
            shards,
            catalogue: RwLock::new(catalogue),
            plans: RwLock::new(plans),
            performances: ArcSwap::from_pointee(HashMap::new()),
            users: Users::new(users),
            snapshot_seqs: Mutex::new(snapshot_seqs),
            checkpointing: tokio::sync::Mutex::new(()),
        });
        let office = BoxOffice { inner };

        let handles: HashMap<PerformanceId, PerformanceHandle> = bookings
            .into_values()
            .map(|booking| office.spawn_actor(booking))
            .map(|h| (h.info.id, h))
            .collect();
        office.inner.performances.store(Arc::new(handles));
        Ok(office)
    }

    /// Stops every actor's thread. Replies still owed are dropped, so call
    /// it only once nothing waits; the journal closes when the last actor
    /// holding it is gone.
    pub fn stop(&self) {
        for shard in &self.inner.shards {
            shard.arbiter.stop();
        }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    fn spawn_actor(&self, booking: Booking) -> PerformanceHandle {
        let inner = &self.inner;
        let info = Arc::new(booking.info().clone());
        let plan = booking.plan().clone();
        let currency = inner.catalogue.read().cities[&info.city].currency.clone();
        let shard = &inner.shards[shard_of(info.city, inner.shards.len())];
        let availability = Arc::new(PublishedAvailability::new(plan.layout().sections.len()));
        let deps = ActorDeps {
            journal: inner.deps.journal.clone(),
            clock: inner.deps.clock.clone(),
            index: shard.index.clone(),
            hold_ttl: inner.config.hold_ttl,
            mailbox_capacity: inner.config.max_in_flight,
            availability: availability.clone(),
        };

        let addr = PerformanceActor::start_in_arbiter(&shard.arbiter, move |_| {
            PerformanceActor::new(booking, deps)
        });
        PerformanceHandle {
            info,
            plan,
            currency,
            addr,
            availability,
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: inner.config.max_in_flight,
        }
    }

    /// Appends events and waits until they are durable.
    async fn log(&self, events: Vec<Event>) -> Result<(), JournalError> {
        let (done, durable) = oneshot::channel();
        self.inner.deps.journal.append(events, Box::new(move |result| drop(done.send(result))));
        durable.await.map_err(|_| JournalError::new("the journal has stopped"))?
    }

    // The catalogue.

    /// Reads the catalogue; `read` must be quick, it holds a read lock.
    pub fn with_catalogue<R>(&self, read: impl FnOnce(&Catalogue) -> R) -> R {
        read(&self.inner.catalogue.read())
    }

    pub async fn create_city(&self, new: NewCity) -> Result<City, CatalogueError> {
        let city = {
            let mut catalogue = self.inner.catalogue.write();
            let city = City {
                id: catalogue.next_city_id(),
                name: new.name,
                country: new.country,
                time_zone: new.time_zone,
                currency: new.currency,
            };
            catalogue.cities.insert(city.id, city.clone());
            city
        };

        self.log(vec![Event::CityCreated(city.clone())]).await?;
        Ok(city)
    }

    pub async fn create_venue(
        &self,
        city: CityId,
        name: String,
        layout: Layout,
    ) -> Result<Venue, CatalogueError> {
        layout.validate()?;
        let venue = {
            let mut catalogue = self.inner.catalogue.write();
            if !catalogue.cities.contains_key(&city) {
                return Err(CatalogueError::UnknownCity(city));
            }
            let venue =
                Venue { id: catalogue.next_venue_id(), city, name, layout: Arc::new(layout) };
            catalogue.venues.insert(venue.id, venue.clone());
            let plan = Arc::new(SeatPlan::new(venue.layout.clone()));
            self.inner.plans.write().insert(venue.id, plan);
            venue
        };

        self.log(vec![Event::VenueCreated(venue.clone())]).await?;
        Ok(venue)
    }

    pub async fn create_performance(
        &self,
        venue: VenueId,
        new: NewPerformance,
    ) -> Result<PerformanceInfo, CatalogueError> {
        let info = {
            let mut catalogue = self.inner.catalogue.write();
            let city =
                catalogue.venues.get(&venue).ok_or(CatalogueError::UnknownVenue(venue))?.city;
            let info = PerformanceInfo {
                id: catalogue.next_performance_id(),
                venue,
                city,
                title: new.title,
                start_local: new.start_local,
                start: new.start,
                utc_offset_seconds: new.utc_offset_seconds,
                on_sale: new.on_sale,
                order_max: new.order_max,
                user_max: new.user_max,
            };
            catalogue.performances.insert(info.id, info.clone());
            info
        };

        let plan = self.inner.plans.read()[&venue].clone();
        let handle = self.spawn_actor(Booking::new(info.clone(), plan));
        self.inner.performances.rcu(|table| {
            let mut table = HashMap::clone(table);
            table.insert(info.id, handle.clone());
            table
        });
        self.log(vec![Event::PerformanceCreated(info.clone())]).await?;
        Ok(info)
    }

    pub fn performance(&self, id: PerformanceId) -> Result<PerformanceHandle, BookingError> {
        self.inner.performances.load().get(&id).cloned().ok_or(BookingError::UnknownPerformance(id))
    }

    // Users.

    pub async fn register_user(
        &self,
        name: String,
        email: String,
        phone: String,
        token_sha256: [u8; 32],
    ) -> Result<User, RegisterError> {
        let user = {
            let mut sign_up = self.inner.users.lock_sign_up();
            if sign_up.is_taken(&email) {
                return Err(RegisterError::EmailTaken);
            }
            let user = User { id: sign_up.next_id(), name, email, phone, token_sha256 };
            self.inner.users.insert(&mut sign_up, user.clone());
            user
        };

        self.log(vec![Event::UserRegistered(user.clone())]).await?;
        Ok(user)
    }

    pub fn user(&self, id: UserId) -> Option<Arc<User>> {
        self.inner.users.get(id)
    }

    // Bookings.

    pub async fn reserve(
        &self,
        user: UserId,
        performance: PerformanceId,
        selection: Selection,
    ) -> Result<Reservation, BookingError> {
        let handle = self.performance(performance)?;
        handle.command(|reply| Reserve { user, selection, reply }).await
    }

    /// Buys held tickets: prices them in the actor, charges the payment
    /// provider outside it, then completes the purchase in the actor. If the
    /// hold lapsed while the payment ran, the charge is refunded.
    // TODO: a retry sent after its purchase finished is refused `NotHeld`
    // by the quote, because the tickets are sold, so a client whose reply
    // was lost learns of its order only from its ticket list. The quote
    // could answer with the order when the user bought exactly these
    // tickets in one order already.
    pub async fn purchase(
        &self,
        user: UserId,
        performance: PerformanceId,
        tickets: Vec<u32>,
        payment_token: String,
    ) -> Result<Purchase, BookingError> {
        let handle = self.performance(performance)?;
        let quoted = tickets.clone();
        let quote = handle.command(|reply| QuotePurchase { user, tickets: quoted, reply }).await?;

        let idempotency_key =
            purchase_key(user, performance, &tickets, &quote.holds, &payment_token);
        let charge = Charge {
            user,
            performance,
            amount_minor: quote.amount_minor,
            currency: handle.currency.clone(),
            payment_token,
            idempotency_key,
        };
        let reference = self.charge(charge).await?;

        let payment = reference.clone();
        let completed =
            handle.command(|reply| CompletePurchase { user, tickets, payment, reply }).await;
        if let Err(error) = &completed {
            self.settle_failed(error, reference, quote.amount_minor);
        }
        completed
    }

    async fn charge(&self, charge: Charge) -> Result<String, BookingError> {
        match self.inner.deps.payments.charge(charge).await {
            PaymentOutcome::Approved { reference } => Ok(reference),
            PaymentOutcome::Declined { reason } => Err(BookingError::PaymentDeclined { reason }),
            PaymentOutcome::Failed { reason } => Err(BookingError::PaymentFailed { reason }),
        }
    }

    /// A charge was made and its purchase did not complete.
    fn settle_failed(&self, error: &BookingError, reference: String, amount_minor: i64) {
        match error {
            // Nothing was bought with this charge: the hold lapsed while the
            // payment ran, or the actor never got the message.
            BookingError::Rejected(_) | BookingError::Overloaded => {
                self.refund(reference, amount_minor)
            }
            // The purchase may or may not have reached the disk before the
            // log failed; refunding could leave sold tickets unpaid.
            error => tracing::error!(
                %reference,
                amount_minor,
                %error,
                "a payment was taken but its purchase may not be durable: reconcile by hand"
            ),
        }
    }

    fn refund(&self, reference: String, amount_minor: i64) {
        let payments = self.inner.deps.payments.clone();
        actix::spawn(async move {
            let outcome = payments.refund(&reference, amount_minor).await;
            tracing::warn!(%reference, amount_minor, ?outcome, "refunded a payment whose purchase failed");
        });
    }

    pub async fn release(
        &self,
        user: UserId,
        performance: PerformanceId,
        tickets: Vec<u32>,
    ) -> Result<(), BookingError> {
        let handle = self.performance(performance)?;
        handle.command(|reply| Release { user, tickets, reply }).await
    }

    /// Tickets left per section, in layout order: as the actor last
    /// published them, or from the actor itself when a hold may have lapsed
    /// since.
    pub async fn availability(&self, performance: PerformanceId) -> Result<Vec<u32>, BookingError> {
        let handle = self.performance(performance)?;
        if let Some(counts) = handle.availability.read(self.inner.deps.clock.now()) {
            return Ok(counts);
        }
        handle.ask(|reply| Availability { reply }).await
    }

    pub async fn tickets(
        &self,
        performance: PerformanceId,
        after: Option<u32>,
        limit: usize,
        only: Option<TicketStatus>,
    ) -> Result<Vec<(u32, TicketStatus)>, BookingError> {
        let handle = self.performance(performance)?;
        handle.ask(|reply| ListTickets { after, limit, only, reply }).await
    }

    pub async fn user_tickets(&self, user: UserId) -> Vec<(TicketId, Holding)> {
        let mut tickets = Vec::new();
        for shard in &self.inner.shards {
            tickets.extend(shard.index.send(UserTickets { user }).await.unwrap_or_default());
        }
        tickets.sort_unstable_by_key(|&(ticket, _)| ticket);
        tickets
    }

    // Checkpoints.

    /// Snapshots every performance that changed since its last durable
    /// snapshot, with the catalogue and users, and lets the journal drop the
    /// log those cover. Returns how many performances were snapshotted.
    pub async fn checkpoint(&self) -> Result<usize, JournalError> {
        let _one_at_a_time = self.inner.checkpointing.lock().await;
        let position = self.inner.deps.journal.durable_position();

        // TODO: the catalogue and the users are written whole at every
        // checkpoint, changed or not; cheap at thousands of venues and
        // hundreds of thousands of users, not at millions.
        let catalogue = self.inner.catalogue.read().clone();
        let users = self.inner.users.all();
        let bookings = self.changed_snapshots().await?;
        let taken: Vec<(PerformanceId, u64)> =
            bookings.iter().map(|snapshot| (snapshot.performance, snapshot.seq)).collect();

        let journal = self.inner.deps.journal.clone();
        let checkpoint = Checkpoint { catalogue, users, bookings };
        let (done, written) = oneshot::channel();
        std::thread::spawn(move || drop(done.send(journal.checkpoint(position, checkpoint))));
        written.await.map_err(|_| JournalError::new("the checkpoint thread died"))??;

        self.inner.snapshot_seqs.lock().extend(taken.iter().copied());
        Ok(taken.len())
    }

    async fn changed_snapshots(&self) -> Result<Vec<BookingSnapshot>, JournalError> {
        let table = self.inner.performances.load_full();
        let mut snapshots = Vec::new();
        for (id, handle) in table.iter() {
            let unless_seq = self.inner.snapshot_seqs.lock().get(id).copied();
            snapshots.extend(snapshot_of(handle, unless_seq).await?);
        }
        Ok(snapshots)
    }

    /// Every performance's seat map as it is now, by performance id: what a
    /// restart must rebuild exactly.
    pub async fn snapshots(&self) -> Result<Vec<BookingSnapshot>, JournalError> {
        let table = self.inner.performances.load_full();
        let mut handles: Vec<&PerformanceHandle> = table.values().collect();
        handles.sort_unstable_by_key(|handle| handle.info.id);

        let mut snapshots = Vec::with_capacity(handles.len());
        for handle in handles {
            // Asking with a `seq` no seat map has always returns one.
            snapshots.extend(snapshot_of(handle, Some(u64::MAX)).await?);
        }
        Ok(snapshots)
    }
}

/// The shard of a city's performances.
fn shard_of(city: CityId, shards: usize) -> usize {
    city.0 as usize % shards
}

/// Starts each shard's thread with the index of its performances' tickets.
fn start_shards(count: usize, bookings: &HashMap<PerformanceId, Booking>) -> Vec<Shard> {
    (0..count)
        .map(|number| {
            let mine = bookings.values().filter(|b| shard_of(b.info().city, count) == number);
            let index = TicketIndex::from_bookings(mine);
            let arbiter = Arbiter::new().handle();
            let index = TicketIndex::start_in_arbiter(&arbiter, move |_| index);
            Shard { arbiter, index }
        })
        .collect()
}

async fn snapshot_of(
    handle: &PerformanceHandle,
    unless_seq: Option<u64>,
) -> Result<Option<BookingSnapshot>, JournalError> {
    let (reply, answer) = oneshot::channel();
    handle.addr.do_send(TakeSnapshot { unless_seq, reply });
    answer.await.map_err(|_| JournalError::new("an actor has stopped"))
}

/// The same for every retry of one purchase attempt, and different for a
/// new one: an attempt is these tickets, in these holds, with this token.
fn purchase_key(
    user: UserId,
    performance: PerformanceId,
    tickets: &[u32],
    holds: &[u32],
    token: &str,
) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (tickets, holds, token).hash(&mut hasher);
    format!("{user}-{performance}-{:016x}", hasher.finish())
}
