//! The default way of keeping resources: the gateway's own store. Reads use the store's indexes
//! and serve stored text without decoding it where they can (`raw.rs`); writes are
//! conditional on the version read and commit the change with its delivery jobs.

use std::collections::HashSet;
use std::io;
use std::ops::ControlFlow;
use std::sync::Arc;

use serde_json::{Value, json};

use super::body::{self, Body};
use super::budget::Meter;
use super::members::{self, Need};
use super::raw;
use super::record::{CommitError, Recorded, Recorder};
use super::resources::{BoxFuture, Offers, Resources, Write, WriteError};
use super::{Answer, Outbound};
use crate::model::{MemberRef, Operation, ResourceKind};
use crate::scim::ScimError;
use crate::scim::attr::AttrInfo;
use crate::scim::list::{LIST_TAIL, ListQuery, compare, list_head};
use crate::scim::resource::version;
use crate::scim::schema;
use crate::store::plan::{Probe, is_exact, plan};
use crate::store::{
    Key, MEMBER_PAGE, MemberCursor, MemberWrite, Membership, Store, StoreError, Stored, WriteOp,
};

/// Resources kept in the gateway's store.
#[derive(Clone)]
pub struct Persisted {
    /// Where resources live.
    store: Arc<dyn Store>,
    /// Commits changes with their delivery jobs.
    recorder: Recorder,
    /// Most resources one list response carries.
    max_results: usize,
}

/// A resource a search selected.
#[derive(Debug)]
enum Found {
    /// Decoded, because the search looked inside it (to filter or sort).
    Decoded {
        /// Users or Groups.
        kind: ResourceKind,
        /// The resource as stored.
        resource: Value,
        /// Its memberships, when they were read along with it.
        groups: Option<Vec<Membership>>,
    },
    /// Read by key and selected without looking inside: it can be served as stored.
    Stored {
        /// Users or Groups.
        kind: ResourceKind,
        /// The stored text and memberships.
        stored: Stored,
    },
}

impl Found {
    /// Users or Groups.
    fn kind(&self) -> ResourceKind {
        match self {
            Found::Decoded { kind, .. } | Found::Stored { kind, .. } => *kind,
        }
    }

    /// The resource's kind and id, the listing order.
    fn order_key(&self) -> (&'static str, &str) {
        match self {
            Found::Decoded { kind, resource, .. } => (
                kind.name(),
                resource
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            Found::Stored { kind, stored } => (kind.name(), &stored.id),
        }
    }
}

impl Persisted {
    /// Resources in `store`, delivered through `outbound`, at most `max_results` per list.
    pub fn new(store: Arc<dyn Store>, outbound: Outbound, max_results: usize) -> Self {
        let recorder = Recorder {
            store: store.clone(),
            outbound,
        };
        Self {
            store,
            recorder,
            max_results,
        }
    }

    /// Commits a computed change with its delivery jobs.
    async fn commit(&self, actor: Option<&str>, w: Write<'_>) -> Result<Value, WriteError> {
        let Write {
            kind,
            operation,
            before,
            after,
            changed_paths,
            conditional,
            members,
        } = w;
        let edit = match &members {
            MemberWrite::Edit(edit) => Some(edit.clone()),
            _ => None,
        };
        let op = match (operation, after) {
            (Operation::Create, Some(resource)) => WriteOp::Create { kind, resource },
            (Operation::Delete, _) | (_, None) => WriteOp::Delete {
                kind,
                id: before
                    .and_then(|b| b.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                expected_version: before
                    .and_then(version)
                    .filter(|_| conditional)
                    .map(str::to_owned),
            },
            (_, Some(resource))
                if let (MemberWrite::Edit(edit), Some(before)) = (&members, before)
                    && same_but_meta(before, &resource) =>
            {
                // Nothing but members changes: applied to the group as it is at the commit.
                WriteOp::Members {
                    id: text_of(&resource, "id"),
                    edit: edit.clone(),
                    expected_version: version(before).filter(|_| conditional).map(str::to_owned),
                    modified: resource
                        .pointer("/meta/lastModified")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                        .unwrap_or_else(crate::model::timestamp),
                }
            }
            (_, Some(resource)) => WriteOp::Replace {
                kind,
                resource,
                expected_version: before.and_then(version).map(str::to_owned),
                members,
            },
        };
        let change = Recorded {
            kind,
            op,
            before,
            after: None,
            changed_paths,
            delivered: Vec::new(),
            edit: edit.as_ref(),
        };
        match self.recorder.record(actor, change, None).await {
            Ok(stored) => Ok(stored),
            Err(CommitError::Store(StoreError::VersionMismatch)) if !conditional => {
                Err(WriteError::Raced)
            }
            Err(e) => Err(WriteError::Refused(e.into())),
        }
    }

    /// Finds the resources of `kinds` that a query selects: `(totalResults, page)`.
    fn search(
        &self,
        kinds: &[ResourceKind],
        q: &ListQuery,
    ) -> Result<(u64, Vec<Found>), ScimError> {
        if let Some(path) = &q.sort_by
            && kinds.iter().any(|kind| kind.never_returned(path))
        {
            return Err(ScimError::bad_request(
                "invalidValue",
                format!("\"{path}\" is never returned, so it cannot be sorted by"),
            ));
        }
        let skip = q.start_index.saturating_sub(1);
        let take = q.count.unwrap_or(self.max_results).min(self.max_results);
        if let ([kind], None, None) = (kinds, &q.filter, &q.sort_by) {
            // The common unfiltered listing pages through the store without materialising.
            let total = self.store.count(*kind)?;
            let page = self.store.page(*kind, skip, take)?;
            // Groups come as rows: their members are added when the page is served.
            let found = page.into_iter().map(|resource| Found::Decoded {
                kind: *kind,
                resource,
                groups: None,
            });
            return Ok((total, found.collect()));
        }
        let mut matches = Vec::new();
        for &kind in kinds {
            self.collect(kind, q, &mut matches)?;
        }
        if let Some(path) = &q.sort_by {
            // Resources are kept as stored only when nothing sorts, so every one is decoded.
            matches.sort_by(|a, b| match (a, b) {
                (
                    Found::Decoded {
                        kind, resource: a, ..
                    },
                    Found::Decoded { resource: b, .. },
                ) => compare(a, b, path, q.descending, kind),
                _ => a.order_key().cmp(&b.order_key()),
            });
        }
        let total = matches.len() as u64;
        let skip = usize::try_from(skip).unwrap_or(usize::MAX);
        Ok((total, matches.into_iter().skip(skip).take(take).collect()))
    }

    /// Appends every resource of `kind` matching the query's filter.
    fn collect(
        &self,
        kind: ResourceKind,
        q: &ListQuery,
        out: &mut Vec<Found>,
    ) -> Result<(), ScimError> {
        let decoded = |resource| Found::Decoded {
            kind,
            resource,
            groups: None,
        };
        let mut meter = Meter::new();
        let mut over = None;
        let Some(f) = &q.filter else {
            self.store.scan(kind, &mut |r| {
                if let Err(e) = meter.tick() {
                    over = Some(e);
                    return ControlFlow::Break(());
                }
                out.push(decoded(r));
                ControlFlow::Continue(())
            })?;
            return over.map_or(Ok(()), Err);
        };
        f.validate(&kind)?;
        // A group is matched with the members the filter looks at; it is served with all of
        // them or none, as the request asks (`list_response`).
        let need = match kind {
            ResourceKind::Group => members::needed(f),
            ResourceKind::User => Need::Nothing,
        };
        let store = &*self.store;
        let matches = |r: Value| -> Result<Option<Value>, StoreError> {
            if need == Need::Nothing {
                return Ok(f.matches(&r, &kind).then_some(r));
            }
            let probe = members::for_filter(store, r.clone(), &need)?;
            Ok(f.matches(&probe, &kind).then_some(r))
        };
        let Some(probes) = plan(kind, f) else {
            self.store.scan(kind, &mut |r| {
                let outcome = meter
                    .tick()
                    .and_then(|()| matches(r).map_err(ScimError::from));
                match outcome {
                    Ok(Some(r)) => {
                        out.push(decoded(r));
                        ControlFlow::Continue(())
                    }
                    Ok(None) => ControlFlow::Continue(()),
                    Err(e) => {
                        over = Some(e);
                        ControlFlow::Break(())
                    }
                }
            })?;
            return over.map_or(Ok(()), Err);
        };
        // When the index answers exactly what the filter asks and nothing sorts by content,
        // the resources need not be decoded at all.
        let as_stored = is_exact(kind, f) && q.sort_by.is_none() && need == Need::Nothing;
        let mut seen = HashSet::new();
        for probe in &probes {
            let key = match probe {
                Probe::Id(id) => Key::Id(id),
                Probe::Index(index, value) => Key::Index(*index, value),
            };
            for stored in self.store.find(kind, key)? {
                meter.tick()?;
                if !seen.insert(stored.id.clone()) {
                    continue;
                }
                if as_stored {
                    out.push(Found::Stored { kind, stored });
                    continue;
                }
                if let Some(resource) = matches(stored.decode()?)? {
                    out.push(Found::Decoded {
                        kind,
                        resource,
                        groups: Some(stored.groups),
                    });
                }
            }
        }
        // Index order is by value; keep the listing order stable (by id), as a scan gives it.
        out.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        Ok(())
    }

    /// One stored resource with its memberships, read together, or `404`.
    fn find_one(&self, kind: ResourceKind, id: &str) -> Result<Stored, ScimError> {
        self.store
            .find(kind, Key::Id(id))?
            .pop()
            .ok_or_else(|| ScimError::not_found(kind.name(), id))
    }

    /// Shapes a stored resource for a response (see [`shape`]). `groups` are the user's
    /// memberships when the caller already has them (`None`: looked up here).
    fn shape(
        &self,
        kind: ResourceKind,
        resource: Value,
        groups: Option<Vec<Membership>>,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        let groups = match (groups, kind) {
            (Some(g), _) => g,
            (None, ResourceKind::User) => {
                let id = resource
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                self.store.groups_of(id)?
            }
            (None, ResourceKind::Group) => Vec::new(),
        };
        let resource = match kind {
            ResourceKind::Group if members::shown(q) && resource.get("members").is_none() => {
                self.store.with_members(resource)?
            }
            _ => resource,
        };
        Ok(shape(kind, resource, &groups, base_url, q))
    }

    /// A stored resource as response text: spliced from the stored text when the request
    /// allows it (see `raw.rs`), otherwise decoded and rendered.
    fn render_stored(
        &self,
        kind: ResourceKind,
        stored: Stored,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<raw::Rendered, ScimError> {
        // A group is served as stored only by `group_start`, which knows from its first page
        // of members whether there are any to show.
        if kind == ResourceKind::User
            && as_stored(kind, q)
            && let Some(rendered) = raw::render(kind, &stored, base_url)
        {
            return Ok(rendered);
        }
        let resource = stored.decode()?;
        let version = version(&resource).map(str::to_owned);
        let body = self.shape(kind, resource, Some(stored.groups), base_url, q)?;
        Ok(raw::Rendered {
            body: body.to_string().into_bytes(),
            version,
        })
    }

    /// A `ListResponse` for a search. It is streamed when it shows groups' members (see
    /// `body.rs`): the page's groups may have any number of them.
    fn list_response(
        &self,
        kinds: &[ResourceKind],
        q: &ListQuery,
        base_url: &str,
    ) -> Result<Body, ScimError> {
        let (total, page) = self.search(kinds, q)?;
        let streams = members::shown(q) && page.iter().any(|f| f.kind() == ResourceKind::Group);
        if !streams {
            let mut out = Vec::new();
            self.write_list(total, page, base_url, q, &mut out)
                .map_err(unwritten)?;
            return Ok(Body::Whole(out));
        }
        let (this, q, base_url) = (self.clone(), q.clone(), base_url.to_owned());
        Ok(body::streamed(move |out| {
            this.write_list(total, page, &base_url, &q, out)
        }))
    }

    /// Writes a `ListResponse` of `page` to `out`.
    fn write_list(
        &self,
        total: u64,
        page: Vec<Found>,
        base_url: &str,
        q: &ListQuery,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        out.write_all(&list_head(total, q.start_index, page.len()))?;
        for (i, found) in page.into_iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            if found.kind() == ResourceKind::Group && members::shown(q) {
                self.write_listed_group(found, base_url, q, out)?;
                continue;
            }
            match found {
                Found::Stored { kind, stored } => {
                    let text = self.render_stored(kind, stored, base_url, q);
                    out.write_all(&text.map_err(failed)?.body)?;
                }
                Found::Decoded {
                    kind,
                    resource,
                    groups,
                } => {
                    let shaped = self.shape(kind, resource, groups, base_url, q);
                    serde_json::to_writer(&mut *out, &shaped.map_err(failed)?)
                        .map_err(io::Error::other)?;
                }
            }
        }
        out.write_all(LIST_TAIL)
    }

    /// Writes a group a search found, with its members as they are now (one snapshot for the
    /// row and the members; as found, without members, if it was deleted since).
    fn write_listed_group(
        &self,
        found: Found,
        base_url: &str,
        q: &ListQuery,
        out: &mut dyn io::Write,
    ) -> io::Result<()> {
        let id = found.order_key().1.to_owned();
        let Some((stored, mut cursor)) = self.store.group(&id).map_err(failed)? else {
            let resource = match found {
                Found::Decoded { resource, .. } => resource,
                Found::Stored { stored, .. } => stored.decode().map_err(failed)?,
            };
            let text = shape(ResourceKind::Group, resource, &[], base_url, q);
            return serde_json::to_writer(out, &text).map_err(io::Error::other);
        };
        match group_start(stored, &mut *cursor, base_url, q).map_err(failed)? {
            GroupStart::Empty(text) => out.write_all(&text.body),
            GroupStart::Members { head, first, .. } => {
                write_group(out, &head, first, &mut *cursor, base_url, q)
            }
        }
    }

    /// A group with its members for `GET /Groups/{id}`: its version, and its text, streamed when
    /// the members take more than a page (see `body.rs`).
    fn group_answer(
        &self,
        stored: Stored,
        mut cursor: Box<dyn MemberCursor>,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Answer, ScimError> {
        let (head, version, first) = match group_start(stored, &mut *cursor, base_url, q)? {
            GroupStart::Empty(rendered) => {
                return Ok(Answer {
                    body: Body::Whole(rendered.body),
                    version: rendered.version,
                    // Only a `201` carries a `Location`: a read answers none.
                    location: None,
                });
            }
            GroupStart::Members {
                head,
                version,
                first,
            } => (head, version, first),
        };
        let body = if first.len() < MEMBER_PAGE {
            let mut out = Vec::new();
            write_group(&mut out, &head, first, &mut *cursor, base_url, q).map_err(unwritten)?;
            Body::Whole(out)
        } else {
            let (q, base_url) = (q.clone(), base_url.to_owned());
            body::streamed(move |out| write_group(out, &head, first, &mut *cursor, &base_url, &q))
        };
        Ok(Answer {
            body,
            version,
            // Only a `201` carries a `Location`: a read answers none.
            location: None,
        })
    }
}

/// How a group that shows its members begins, from its first page of members.
enum GroupStart {
    /// It has none: its whole text (as stored where `raw.rs` can serve it).
    Empty(raw::Rendered),
    /// It has some: `head` is the group shaped without them, to be written with them.
    Members {
        /// The group shaped as the request asks, without members.
        head: Value,
        /// Its `meta.version`.
        version: Option<String>,
        /// The first page of members (not empty).
        first: Vec<Value>,
    },
}

/// Reads a group's first page of members from `cursor` and says how it begins.
fn group_start(
    stored: Stored,
    cursor: &mut dyn MemberCursor,
    base_url: &str,
    q: &ListQuery,
) -> Result<GroupStart, ScimError> {
    let first = cursor.next_page(MEMBER_PAGE)?;
    if first.is_empty()
        && as_stored(ResourceKind::Group, q)
        && let Some(rendered) = raw::render(ResourceKind::Group, &stored, base_url)
    {
        return Ok(GroupStart::Empty(rendered));
    }
    let resource = stored.decode()?;
    let version = version(&resource).map(str::to_owned);
    let head = shape(ResourceKind::Group, resource, &[], base_url, q);
    if first.is_empty() {
        let body = head.to_string().into_bytes();
        return Ok(GroupStart::Empty(raw::Rendered { body, version }));
    }
    Ok(GroupStart::Members {
        head,
        version,
        first,
    })
}

/// Writes a group: `head` (the group shaped without members) with the members from `first`
/// (not empty) on, read a page at a time from `cursor`, each shaped as the request asks.
fn write_group(
    out: &mut dyn io::Write,
    head: &Value,
    first: Vec<Value>,
    cursor: &mut dyn MemberCursor,
    base_url: &str,
    q: &ListQuery,
) -> io::Result<()> {
    let mut text = head.to_string();
    // `{...}` without its `}`, then the members as the last attribute (where the stored
    // layout puts them too).
    text.pop();
    out.write_all(text.as_bytes())?;
    out.write_all(if text.len() > 1 {
        b",\"members\":["
    } else {
        b"\"members\":["
    })?;
    let mut page = first;
    let mut written = 0usize;
    loop {
        let full = page.len() == MEMBER_PAGE;
        for member in page {
            let Some(member) = member_shown(member, base_url, q) else {
                continue;
            };
            if written > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &member).map_err(io::Error::other)?;
            written += 1;
        }
        if !full {
            break;
        }
        page = cursor.next_page(MEMBER_PAGE).map_err(failed)?;
        if page.is_empty() {
            break;
        }
    }
    out.write_all(b"]}")
}

/// A member as a response shows it: with its `$ref`, and only the sub-attributes the request
/// asks for (`None` when it asks for none of them).
fn member_shown(mut member: Value, base_url: &str, q: &ListQuery) -> Option<Value> {
    member_ref(&mut member, base_url);
    if q.attributes.is_empty() && q.excluded.is_empty() {
        return Some(member);
    }
    let one = json!({ "members": [member] });
    let mut projected = schema::project(ResourceKind::Group, &one, &q.attributes, &q.excluded);
    projected.get_mut("members")?.as_array_mut()?.pop()
}

/// Adds a group member's `$ref`, from its `type` and `value`.
fn member_ref(member: &mut Value, base_url: &str) {
    let endpoint = MemberRef::kind_of(member).endpoint();
    if let Some(value) = member
        .get("value")
        .and_then(Value::as_str)
        .map(str::to_owned)
        && let Some(obj) = member.as_object_mut()
    {
        obj.insert(
            "$ref".into(),
            json!(format!("{base_url}/{endpoint}/{value}")),
        );
    }
}

/// A failure while writing a response, as an I/O error of the writer.
fn failed(e: impl Into<ScimError>) -> io::Error {
    io::Error::other(e.into())
}

/// The SCIM error behind a response that could not be written whole.
fn unwritten(e: io::Error) -> ScimError {
    match e.downcast::<ScimError>() {
        Ok(e) => e,
        Err(e) => ScimError::internal(e),
    }
}

impl Resources for Persisted {
    fn offers(&self) -> Offers {
        Offers {
            bulk: true,
            sort: true,
            member_records: true,
        }
    }

    fn assign_id(&self) -> Option<String> {
        Some(uuid::Uuid::new_v4().to_string())
    }

    fn read<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ScimError>> {
        Box::pin(async move { Ok(self.store.get(kind, id)?) })
    }

    fn read_row<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Value>, ScimError>> {
        Box::pin(async move { Ok(self.store.row(kind, id)?) })
    }

    fn fetch<'a>(
        &'a self,
        kind: ResourceKind,
        id: &'a str,
        base_url: &'a str,
        q: &'a ListQuery,
    ) -> BoxFuture<'a, Result<Answer, ScimError>> {
        Box::pin(async move {
            if kind == ResourceKind::Group && members::shown(q) {
                let (stored, cursor) =
                    (self.store.group(id)?).ok_or_else(|| ScimError::not_found(kind.name(), id))?;
                return self.group_answer(stored, cursor, base_url, q);
            }
            let stored = self.find_one(kind, id)?;
            let rendered = self.render_stored(kind, stored, base_url, q)?;
            Ok(Answer {
                body: Body::Whole(rendered.body),
                version: rendered.version,
                // Only a `201` carries a `Location`: a read answers none.
                location: None,
            })
        })
    }

    fn list<'a>(
        &'a self,
        kinds: &'a [ResourceKind],
        q: &'a ListQuery,
        base_url: &'a str,
    ) -> BoxFuture<'a, Result<Body, ScimError>> {
        Box::pin(async move { self.list_response(kinds, q, base_url) })
    }

    fn write<'a>(
        &'a self,
        actor: Option<&'a str>,
        change: Write<'a>,
    ) -> BoxFuture<'a, Result<Value, WriteError>> {
        Box::pin(self.commit(actor, change))
    }

    fn render(
        &self,
        kind: ResourceKind,
        resource: Value,
        created: bool,
        base_url: &str,
        q: &ListQuery,
    ) -> Result<Value, ScimError> {
        // A new resource is in no group yet; a changed one's groups are looked up.
        let groups = created.then(Vec::new);
        self.shape(kind, resource, groups, base_url, q)
    }
}

/// Whether two states of a resource differ in `meta` only.
fn same_but_meta(a: &Value, b: &Value) -> bool {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let fields = |o: &'_ serde_json::Map<String, Value>| {
                o.len() - usize::from(o.contains_key("meta"))
            };
            fields(a) == fields(b)
                && a.iter()
                    .filter(|(k, _)| *k != "meta")
                    .all(|(k, v)| b.get(k) == Some(v))
        }
        _ => false,
    }
}

/// A string attribute of a resource, owned (empty if absent).
fn text_of(resource: &Value, key: &str) -> String {
    resource
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// Whether a response to `q` is the stored resource as it is: the default view, of a type
/// whose stored form is its default response.
fn as_stored(kind: ResourceKind, q: &ListQuery) -> bool {
    q.attributes.is_empty() && q.excluded.is_empty() && kind.served_as_stored()
}

/// Shapes a resource for a response: `meta.location`, `$ref`s, `User.groups` (from
/// `memberships`), then `returned` / `attributes` / `excludedAttributes`. The decoding
/// counterpart of [`raw::render`], which gives the same bytes where it applies.
pub(crate) fn shape(
    kind: ResourceKind,
    mut resource: Value,
    memberships: &[Membership],
    base_url: &str,
    q: &ListQuery,
) -> Value {
    let id = resource
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(meta) = resource.get_mut("meta").and_then(Value::as_object_mut) {
        meta.insert(
            "location".into(),
            json!(format!("{base_url}/{}/{id}", kind.endpoint())),
        );
    }
    match kind {
        ResourceKind::User => {
            if let (false, Some(obj)) = (memberships.is_empty(), resource.as_object_mut()) {
                let refs = raw::group_refs(memberships, base_url);
                obj.insert("groups".into(), json!(refs));
            }
        }
        ResourceKind::Group => {
            if let Some(members) = resource.get_mut("members").and_then(Value::as_array_mut) {
                for m in members.iter_mut() {
                    member_ref(m, base_url);
                }
            }
        }
    }
    if as_stored(kind, q) {
        schema::strip_never_returned(kind, &mut resource);
        return resource;
    }
    schema::project(kind, &resource, &q.attributes, &q.excluded)
}
