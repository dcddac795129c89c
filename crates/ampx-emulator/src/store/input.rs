//! Reading request input the way the API does: query parameters, typed
//! body fields, variants, weights, target segments and deployment ids, with a
//! 400 naming the field for anything it would refuse.

use std::collections::HashMap;

use serde_json::{json, Map, Number, Value};

use super::super::support::ApiError;
use super::{
    Collection, Deployment, Variant, CONDITION_OPS, MAX_INCLUSIONS, MAX_PAGE, SUBPROP_OPS,
};

/// One page of a list: `[start, end)` and the next cursor, if any.
pub(super) struct Page {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) next: Option<usize>,
}

impl Page {
    pub(super) fn of(
        query: &HashMap<String, String>,
        page_size: usize,
        total: usize,
    ) -> Result<Self, ApiError> {
        let limit = match query.get("limit").filter(|s| !s.is_empty()) {
            None => page_size,
            Some(raw) => raw.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!(
                    "`limit` must be a non-negative integer, got {raw:?}"
                ))
            })?,
        };
        let start = match query.get("cursor").filter(|s| !s.is_empty()) {
            None => 0,
            Some(raw) => raw.parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!("`cursor` must be a numeric offset, got {raw:?}"))
            })?,
        };
        let size = limit.min(page_size).clamp(1, MAX_PAGE);
        let start = start.min(total);
        let end = start.saturating_add(size).min(total);
        Ok(Self {
            start,
            end,
            next: (end < total).then_some(end),
        })
    }
}

pub(super) fn bool_param(query: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match query.get(name).map(String::as_str) {
        None | Some("") => Ok(false),
        Some(raw) if raw.eq_ignore_ascii_case("true") => Ok(true),
        Some(raw) if raw.eq_ignore_ascii_case("false") => Ok(false),
        Some(raw) => Err(ApiError::bad_request(format!(
            "`{name}` must be true or false, got {raw:?}"
        ))),
    }
}

/// A JSON object's fields, read with the type checks the API applies.
pub(super) struct Fields<'a>(pub(super) &'a Map<String, Value>);

impl<'a> Fields<'a> {
    pub(super) fn of(value: &'a Value, what: &str) -> Result<Self, ApiError> {
        value
            .as_object()
            .map(Fields)
            .ok_or_else(|| ApiError::bad_request(format!("{what} must be a JSON object")))
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name)
    }

    pub(super) fn string(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(ApiError::bad_request(format!("`{name}` must be a string"))),
        }
    }

    pub(super) fn one_of(&self, name: &str, allowed: &[&str]) -> Result<Option<&'a str>, ApiError> {
        match self.string(name)? {
            Some(s) if !allowed.contains(&s) => Err(ApiError::bad_request(format!(
                "`{name}` must be one of {}, got {s:?}",
                allowed.join(", ")
            ))),
            other => Ok(other),
        }
    }

    pub(super) fn nullable_string(&self, name: &str) -> Result<Option<Value>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v @ (Value::Null | Value::String(_))) => Ok(Some(v.clone())),
            Some(_) => Err(ApiError::bad_request(format!(
                "`{name}` must be a string or null"
            ))),
        }
    }

    /// `null` or an ISO 8601 date-time (with `date_only`, a bare date too).
    pub(super) fn date_time(&self, name: &str, date_only: bool) -> Result<Option<Value>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Null) => Ok(Some(Value::Null)),
            Some(Value::String(s)) if is_date_time(s) || (date_only && is_date(s.as_bytes())) => {
                Ok(Some(Value::String(s.clone())))
            }
            Some(other) => Err(ApiError::bad_request(format!(
                "`{name}` must be null or an ISO 8601 date-time such as \
                 2026-12-01T00:00:00Z, got {other}"
            ))),
        }
    }

    pub(super) fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::bad_request(format!("`{name}` must be a boolean"))),
        }
    }

    pub(super) fn number(&self, name: &str) -> Result<Option<&'a Number>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n)),
            Some(_) => Err(ApiError::bad_request(format!("`{name}` must be a number"))),
        }
    }

    pub(super) fn strings(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(value) => string_array(value, name).map(Some),
        }
    }
}

fn string_array(value: &Value, what: &str) -> Result<Vec<String>, ApiError> {
    let error = || ApiError::bad_request(format!("`{what}` must be an array of strings"));
    value
        .as_array()
        .ok_or_else(error)?
        .iter()
        .map(|item| item.as_str().map(str::to_owned).ok_or_else(error))
        .collect()
}

/// `items` without repeats, first occurrences in order; linear, so that a
/// request of 200,000 ids is answered at once.
pub(super) fn dedup(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items
        .into_iter()
        .filter(|item| seen.insert(item.clone()))
        .collect()
}

/// Cohort ids are opaque strings, but never empty.
pub(super) fn check_cohort_ids(ids: &[String]) -> Result<(), ApiError> {
    if ids.iter().any(String::is_empty) {
        return Err(ApiError::bad_request("a cohort id must not be empty"));
    }
    Ok(())
}

pub(super) fn is_valid_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The number that `digits` spells, which must be all ASCII digits.
fn number_in(digits: &[u8], range: std::ops::RangeInclusive<u32>) -> bool {
    !digits.is_empty()
        && digits.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
            .is_some_and(|n| range.contains(&n))
}

/// `YYYY-MM-DD`.
fn is_date(b: &[u8]) -> bool {
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && number_in(&b[..4], 0..=9999)
        && number_in(&b[5..7], 1..=12)
        && number_in(&b[8..10], 1..=31)
}

/// A light syntactic check of an ISO 8601 date-time:
/// `YYYY-MM-DDTHH:MM:SS`, an optional fraction, then `Z` or `±HH:MM`.
pub(super) fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || !is_date(&b[..10]) || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return false;
    }
    let time_ok = number_in(&b[11..13], 0..=23)
        && number_in(&b[14..16], 0..=59)
        && number_in(&b[17..19], 0..=60);
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return false;
        }
        rest = &fraction[len..];
    }
    let zone_ok = match rest {
        b"Z" => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            number_in(&[*h1, *h2], 0..=23) && number_in(&[*m1, *m2], 0..=59)
        }
        _ => false,
    };
    time_ok && zone_ok
}

/// Checks `0 <= n` (and `n <= max`); weights and percentages are never negative.
pub(super) fn check_range(n: &Number, what: &str, max: Option<f64>) -> Result<Number, ApiError> {
    let value = n.as_f64().unwrap_or(f64::NAN);
    let in_range = value >= 0.0 && max.is_none_or(|max| value <= max);
    if in_range {
        Ok(n.clone())
    } else {
        let bounds = match max {
            Some(max) => format!("between 0 and {max}"),
            None => "zero or more".to_owned(),
        };
        Err(ApiError::bad_request(format!(
            "`{what}` must be {bounds}, got {n}"
        )))
    }
}

/// A variant without a payload answers `{}`.
pub(super) fn normalize_payload(payload: &Value) -> Value {
    match payload {
        Value::Null => json!({}),
        other => other.clone(),
    }
}

/// A variant's key, name, description and payload (and, when seeding, its
/// inclusions); the weight is left at 0 for the caller to set.
pub(super) fn parse_variant(fields: &Fields, seed: bool) -> Result<Variant, ApiError> {
    let key = fields
        .string("key")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::bad_request("a variant `key` is required"))?;
    let (inclusions, cohorts) = if seed {
        let cohorts = dedup(fields.strings("cohorts")?.unwrap_or_default());
        check_cohort_ids(&cohorts)?;
        (
            dedup(fields.strings("inclusions")?.unwrap_or_default()),
            cohorts,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    if inclusions.len() > MAX_INCLUSIONS {
        return Err(ApiError::bad_request(format!(
            "variant {key:?}: at most {MAX_INCLUSIONS} inclusions"
        )));
    }
    Ok(Variant {
        key: key.to_owned(),
        name: fields.string("name")?.unwrap_or("").to_owned(),
        description: fields.string("description")?.unwrap_or("").to_owned(),
        payload: fields
            .get("payload")
            .map_or_else(|| json!({}), normalize_payload),
        rollout_weight: Number::from(0),
        inclusions,
        cohorts,
    })
}

/// The variants of a create body with their weights. Without `variants` the
/// API makes its defaults (a flag gets `on`, an experiment `control` and
/// `treatment`, as the docs' first versions show); without `rolloutWeights`
/// every variant weighs 1, with it every unnamed variant weighs 0.
pub(super) fn create_variants(
    collection: Collection,
    fields: &Fields,
    seed: bool,
) -> Result<Vec<Variant>, ApiError> {
    let mut variants = Vec::new();
    let mut own_weights = Vec::new();
    match fields.get("variants") {
        None | Some(Value::Null) => {
            let defaults: &[&str] = match collection {
                Collection::Flags => &["on"],
                Collection::Experiments => &["control", "treatment"],
            };
            for key in defaults {
                variants.push(parse_variant(
                    &Fields::of(&json!({"key": key}), "")?,
                    false,
                )?);
                own_weights.push(None);
            }
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let fields = Fields::of(item, &format!("variants[{i}]"))?;
                let variant = parse_variant(&fields, seed)?;
                if variants.iter().any(|v: &Variant| v.key == variant.key) {
                    return Err(ApiError::bad_request(format!(
                        "variant {:?} is listed twice",
                        variant.key
                    )));
                }
                let weight = match fields.number("rolloutWeight")? {
                    Some(w) if seed => Some(check_range(w, "rolloutWeight", None)?),
                    _ => None,
                };
                variants.push(variant);
                own_weights.push(weight);
            }
        }
        Some(_) => return Err(ApiError::bad_request("`variants` must be an array")),
    }
    let weights = match fields.get("rolloutWeights") {
        None | Some(Value::Null) => None,
        Some(value) => Some(parse_weights(value, "rolloutWeights", &variants)?),
    };
    for (variant, own) in variants.iter_mut().zip(own_weights) {
        variant.rollout_weight = match (own, &weights) {
            (Some(weight), _) => weight,
            (None, Some(map)) => map.get(&variant.key).cloned().unwrap_or(Number::from(0)),
            (None, None) => Number::from(1),
        };
    }
    Ok(variants)
}

/// A `{variant key: weight}` map whose keys all name existing variants.
pub(super) fn parse_weights(
    value: &Value,
    what: &str,
    variants: &[Variant],
) -> Result<HashMap<String, Number>, ApiError> {
    let map = value
        .as_object()
        .ok_or_else(|| ApiError::bad_request(format!("`{what}` must be an object")))?;
    map.iter()
        .map(|(key, weight)| {
            if !variants.iter().any(|v| &v.key == key) {
                return Err(ApiError::bad_request(format!(
                    "`{what}` names variant {key:?}, which does not exist"
                )));
            }
            let weight = weight.as_number().ok_or_else(|| {
                ApiError::bad_request(format!("`{what}`: the weight of {key:?} must be a number"))
            })?;
            Ok((key.clone(), check_range(weight, what, None)?))
        })
        .collect()
}

/// Validates target segments and fills the server's defaults: `type:
/// property` on conditions, the object's bucketing key on segments.
pub(super) fn parse_segments(
    value: &Value,
    variants: &[Variant],
    bucketing_key: &str,
) -> Result<Vec<Value>, ApiError> {
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::bad_request("`targetSegments` must be an array"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let what = format!("targetSegments[{i}]");
            let mut segment = item
                .as_object()
                .cloned()
                .ok_or_else(|| ApiError::bad_request(format!("{what} must be an object")))?;
            let fields = Fields(&segment);
            fields
                .string("name")?
                .ok_or_else(|| ApiError::bad_request(format!("{what}: `name` is required")))?;
            let percentage = fields.number("percentage")?.ok_or_else(|| {
                ApiError::bad_request(format!("{what}: `percentage` is required"))
            })?;
            check_range(percentage, &format!("{what}.percentage"), Some(100.0))?;
            let weights = fields.get("rolloutWeights").ok_or_else(|| {
                ApiError::bad_request(format!("{what}: `rolloutWeights` is required"))
            })?;
            parse_weights(weights, &format!("{what}.rolloutWeights"), variants)?;
            let conditions = match fields.get("conditions") {
                Some(Value::Array(conditions)) => conditions
                    .iter()
                    .enumerate()
                    .map(|(j, c)| parse_condition(c, &format!("{what}.conditions[{j}]")))
                    .collect::<Result<Vec<Value>, ApiError>>()?,
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "{what}: `conditions` must be an array"
                    )))
                }
            };
            match fields.get("bucketingKey") {
                None | Some(Value::Null) => {
                    segment.insert("bucketingKey".into(), json!(bucketing_key));
                }
                Some(Value::String(_)) => {}
                Some(_) => {
                    return Err(ApiError::bad_request(format!(
                        "{what}: `bucketingKey` must be a string"
                    )))
                }
            }
            segment.insert("conditions".into(), Value::Array(conditions));
            Ok(Value::Object(segment))
        })
        .collect()
}

fn parse_condition(value: &Value, what: &str) -> Result<Value, ApiError> {
    let mut condition = value
        .as_object()
        .cloned()
        .ok_or_else(|| ApiError::bad_request(format!("{what} must be an object")))?;
    let fields = Fields(&condition);
    fields
        .string("prop")?
        .ok_or_else(|| ApiError::bad_request(format!("{what}: `prop` is required")))?;
    let op = fields
        .string("op")?
        .ok_or_else(|| ApiError::bad_request(format!("{what}: `op` is required")))?;
    if !CONDITION_OPS.contains(&op) {
        return Err(ApiError::bad_request(format!(
            "{what}: unknown `op` {op:?}"
        )));
    }
    let values = fields
        .get("values")
        .ok_or_else(|| ApiError::bad_request(format!("{what}: `values` is required")))?;
    string_array(values, &format!("{what}.values"))?;
    match fields.string("type")? {
        None => {
            condition.insert("type".into(), json!("property"));
        }
        Some("property") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "{what}: `type` must be \"property\", got {other:?}"
            )))
        }
    }
    Ok(Value::Object(condition))
}

/// An experiment's `exposureEvent`: `null` (the default exposure event) or
/// an object with `event_type` and `filters` (an array, which may be empty),
/// both required, each filter with the fields the docs require. A 400 names
/// the first field that is wrong.
pub(super) fn parse_exposure_event(value: &Value) -> Result<Value, ApiError> {
    let map = match value {
        Value::Null => return Ok(Value::Null),
        Value::Object(map) => map,
        _ => {
            return Err(ApiError::bad_request(
                "`exposureEvent` must be an object or null",
            ))
        }
    };
    let fields = Fields(map);
    match fields.get("event_type") {
        Some(Value::String(s)) if !s.is_empty() => {}
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "`exposureEvent.event_type` is required",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "`exposureEvent.event_type` must be a non-empty string",
            ))
        }
    }
    let filters = match fields.get("filters") {
        Some(Value::Array(filters)) => filters,
        None | Some(Value::Null) => {
            return Err(ApiError::bad_request(
                "`exposureEvent.filters` is required: an array of filters, which may be empty",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "`exposureEvent.filters` must be an array",
            ))
        }
    };
    for (i, filter) in filters.iter().enumerate() {
        let what = format!("exposureEvent.filters[{i}]");
        let filter = Fields::of(filter, &format!("`{what}`"))?;
        let required = |name: &str| {
            filter
                .get(name)
                .ok_or_else(|| ApiError::bad_request(format!("`{what}.{name}` is required")))
        };
        let wrong = |name: &str, expected: &str| {
            ApiError::bad_request(format!("`{what}.{name}` must be {expected}"))
        };
        if !required("subprop_type")?.is_string() {
            return Err(wrong("subprop_type", "a string"));
        }
        if !matches!(required("subprop_key")?, Value::String(_) | Value::Null) {
            return Err(wrong("subprop_key", "a string or null"));
        }
        match required("subprop_op")?.as_str() {
            Some(op) if SUBPROP_OPS.contains(&op) => {}
            _ => {
                return Err(wrong(
                    "subprop_op",
                    &format!("one of {}", SUBPROP_OPS.join(", ")),
                ))
            }
        }
        string_array(required("subprop_value")?, &format!("{what}.subprop_value"))?;
        if !matches!(
            filter.get("group_type"),
            None | Some(Value::String(_) | Value::Null)
        ) {
            return Err(wrong("group_type", "a string or null"));
        }
    }
    Ok(value.clone())
}

/// Seeded `parentDependencies`: `{"flags": {"<flag id>": [variant keys]},
/// "operator": "all"}` (`operator` may be left out); `null` or no flags is
/// none.
pub(super) fn parse_parent_dependencies(value: &Value) -> Result<Option<Value>, ApiError> {
    let map = match value {
        Value::Null => return Ok(None),
        Value::Object(map) => map,
        _ => {
            return Err(ApiError::bad_request(
                "`parentDependencies` must be an object or null",
            ))
        }
    };
    let fields = Fields(map);
    let flags = match fields.get("flags") {
        Some(Value::Object(flags)) => flags,
        _ => {
            return Err(ApiError::bad_request(
                "`parentDependencies.flags` must be an object of variant key lists",
            ))
        }
    };
    for (id, variants) in flags {
        string_array(variants, &format!("parentDependencies.flags.{id}"))?;
    }
    let operator = fields.string("operator")?.unwrap_or("all");
    Ok((!flags.is_empty()).then(|| json!({"flags": flags, "operator": operator})))
}

/// Deployment ids given as numbers or numeric strings (with `labels`, also
/// as the labels of `project`'s deployments), each naming a live deployment
/// of `project`.
pub(super) fn resolve_deployments(
    deployments: &[Deployment],
    project: &str,
    value: &Value,
    what: &str,
    labels: bool,
) -> Result<Vec<u64>, ApiError> {
    let items = value
        .as_array()
        .ok_or_else(|| ApiError::bad_request(format!("`{what}` must be an array of ids")))?;
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let found = match item {
            Value::Number(n) => n
                .as_u64()
                .and_then(|id| deployments.iter().find(|d| d.id == id)),
            Value::String(s) => deployments
                .iter()
                .find(|d| s.parse::<u64>().ok() == Some(d.id))
                .or_else(|| {
                    labels
                        .then(|| {
                            deployments
                                .iter()
                                .find(|d| d.project_id == project && d.label == *s && !d.deleted)
                        })
                        .flatten()
                }),
            _ => None,
        };
        match found {
            Some(d) if d.project_id != project => {
                return Err(ApiError::bad_request(format!(
                    "deployment {item} belongs to project {}, not to project {project}",
                    d.project_id
                )))
            }
            Some(d) if !d.deleted => {
                if !ids.contains(&d.id) {
                    ids.push(d.id);
                }
            }
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "deployment {item} is archived"
                )))
            }
            None => {
                return Err(ApiError::bad_request(format!(
                    "unknown deployment {item} in `{what}`"
                )))
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times() {
        for good in [
            "2026-12-01T00:00:00Z",
            "2023-07-31T10:26:00.996Z",
            "2023-07-31T10:26:00+02:00",
            "2023-07-31T23:59:60.5-11:30",
        ] {
            assert!(is_date_time(good), "{good}");
        }
        for bad in [
            "",
            "2026-12-01",
            "2026-12-01T00:00:00",
            "2026-12-01 00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-12-00T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T00:00:00.Z",
            "2026-12-01T00:00:00+0200",
            "2026-12-01T00:00:00Zjunk",
            "tomorrow at noon, UTC",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
        assert!(is_date(b"2023-07-29"));
        assert!(!is_date(b"2023-7-29"));
    }
}
