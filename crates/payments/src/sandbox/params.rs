//! Stripe's form encoding of nested parameters, parsed and taken apart.
//!
//! `line_items[0][price_data][currency]=eur` is the key path `line_items`,
//! `0`, `price_data`, `currency`. The pairs are parsed into a tree, and the
//! handlers *take* what they know from it; whatever is left is an unknown
//! parameter, refused as Stripe refuses it.

use std::collections::BTreeMap;

use super::api_error::ApiError;

/// One node of the parameter tree: a value, or named children. Arrays are
/// children named by their index.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Value(String),
    Children(BTreeMap<String, Node>),
}

/// Parameters not yet taken, under a prefix that names them in messages
/// (`line_items[0]`), empty at the top.
#[derive(Debug, Default)]
pub(crate) struct Params {
    prefix: String,
    children: BTreeMap<String, Node>,
}

impl Params {
    /// Parses a form-encoded body or query string.
    #[cfg(test)]
    pub(crate) fn parse(encoded: &[u8]) -> Result<Params, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(encoded)
            .map_err(|_| ApiError::invalid_request("The request body could not be decoded."))?;
        Params::from_pairs(&pairs)
    }

    pub(crate) fn from_pairs(pairs: &[(String, String)]) -> Result<Params, ApiError> {
        let mut root = BTreeMap::new();
        for (key, value) in pairs {
            let path = key_path(key)?;
            insert(&mut root, &path, value.clone(), key)?;
        }
        Ok(Params { prefix: String::new(), children: root })
    }

    /// The full name of the child `name`, as a caller would spell it.
    pub(crate) fn name_of(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}[{name}]", self.prefix)
        }
    }

    /// Takes a plain value; a nested one under that name is refused.
    pub(crate) fn take_str(&mut self, name: &str) -> Result<Option<String>, ApiError> {
        match self.children.remove(name) {
            None => Ok(None),
            Some(Node::Value(value)) => Ok(Some(value)),
            Some(Node::Children(_)) => Err(ApiError::invalid_param(
                &self.name_of(name),
                format!("Invalid string: {} must be a string, not a hash.", self.name_of(name)),
            )),
        }
    }

    /// Takes a value that must be there.
    pub(crate) fn require_str(&mut self, name: &str) -> Result<String, ApiError> {
        self.take_str(name)?.ok_or_else(|| ApiError::missing_param(&self.name_of(name)))
    }

    /// Takes an integer, refusing anything that is not one.
    pub(crate) fn take_i64(&mut self, name: &str) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.take_str(name)? else {
            return Ok(None);
        };
        text.trim().parse::<i64>().map(Some).map_err(|_| {
            ApiError::invalid_param(&self.name_of(name), format!("Invalid integer: {text}"))
                .with_code("parameter_invalid_integer")
        })
    }

    /// Takes nested parameters; an empty map counts as absent, a plain
    /// value under that name is refused.
    pub(crate) fn take_nested(&mut self, name: &str) -> Result<Option<Params>, ApiError> {
        let prefix = self.name_of(name);
        match self.children.remove(name) {
            None => Ok(None),
            Some(Node::Children(children)) => Ok(Some(Params { prefix, children })),
            Some(Node::Value(value)) if value.is_empty() => Ok(None),
            Some(Node::Value(_)) => Err(ApiError::invalid_param(
                &prefix,
                format!("Invalid object: {prefix} must be a hash."),
            )),
        }
    }

    /// Takes nested parameters that must be there.
    pub(crate) fn require_nested(&mut self, name: &str) -> Result<Params, ApiError> {
        self.take_nested(name)?.ok_or_else(|| ApiError::missing_param(&self.name_of(name)))
    }

    /// Takes an array: children named `0`, `1`, … in index order.
    pub(crate) fn take_array(&mut self, name: &str) -> Result<Vec<Params>, ApiError> {
        let Some(array) = self.take_nested(name)? else {
            return Ok(Vec::new());
        };
        let mut indexed = Vec::new();
        for (index, node) in array.children {
            let element = format!("{}[{index}]", array.prefix);
            let position = index.parse::<usize>().map_err(|_| {
                ApiError::invalid_param(&array.prefix, format!("Invalid array: {element}"))
            })?;
            let Node::Children(children) = node else {
                return Err(ApiError::invalid_param(
                    &element,
                    format!("Invalid object: {element} must be a hash."),
                ));
            };
            indexed.push((position, Params { prefix: element, children }));
        }
        indexed.sort_by_key(|(position, _)| *position);
        Ok(indexed.into_iter().map(|(_, params)| params).collect())
    }

    /// The remaining plain values, as for `metadata`: each a string.
    pub(crate) fn into_string_map(self) -> Result<BTreeMap<String, String>, ApiError> {
        let mut map = BTreeMap::new();
        for (key, node) in self.children {
            let Node::Value(value) = node else {
                let name = format!("{}[{key}]", self.prefix);
                return Err(ApiError::invalid_param(
                    &name,
                    format!("Invalid string: {name} must be a string."),
                ));
            };
            map.insert(key, value);
        }
        Ok(map)
    }

    /// Refuses the first parameter nothing took.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        let Some(name) = self.children.keys().next() else {
            return Ok(());
        };
        let full = self.name_of(name);
        Err(ApiError::invalid_param(&full, format!("Received unknown parameter: {full}"))
            .with_code("parameter_unknown"))
    }
}

/// How deep a key may nest; Stripe's deepest parameters take five levels,
/// and the tree is built by recursion.
const KEY_DEPTH_MAX: usize = 8;

/// Splits `a[b][c]` into `a`, `b`, `c`; `a[]` appends (an empty segment).
fn key_path(key: &str) -> Result<Vec<&str>, ApiError> {
    let malformed = || ApiError::invalid_request(format!("Invalid parameter name: {key}"));

    let (head, mut rest) = match key.find('[') {
        Some(open) => (&key[..open], &key[open..]),
        None => (key, ""),
    };
    if head.is_empty() || head.contains(']') {
        return Err(malformed());
    }

    let mut path = vec![head];
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(malformed)?;
        let close = inner.find(']').ok_or_else(malformed)?;
        let segment = &inner[..close];
        if segment.contains('[') {
            return Err(malformed());
        }
        path.push(segment);
        if path.len() > KEY_DEPTH_MAX {
            return Err(ApiError::invalid_request(format!(
                "Invalid parameter name: it nests deeper than {KEY_DEPTH_MAX} levels."
            )));
        }
        rest = &inner[close + 1..];
    }
    Ok(path)
}

/// Puts `value` at `path`, refusing a key given twice or given both as a
/// value and as a parent.
fn insert(
    node: &mut BTreeMap<String, Node>,
    path: &[&str],
    value: String,
    key: &str,
) -> Result<(), ApiError> {
    let conflict = || ApiError::invalid_request(format!("Conflicting values for parameter {key}"));

    let Some((first, rest)) = path.split_first() else {
        return Err(conflict());
    };
    let segment = match *first {
        // `a[]`: the next index of the array.
        "" => node.len().to_string(),
        named => named.to_owned(),
    };

    if rest.is_empty() {
        if node.contains_key(&segment) {
            return Err(conflict());
        }
        node.insert(segment, Node::Value(value));
        return Ok(());
    }

    let child = node.entry(segment).or_insert_with(|| Node::Children(BTreeMap::new()));
    match child {
        Node::Children(children) => insert(children, rest, value, key),
        Node::Value(_) => Err(conflict()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Params {
        Params::parse(body.as_bytes()).expect("parses")
    }

    #[test]
    fn bracketed_keys_nest() {
        let mut params = parse(
            "mode=payment&line_items[0][price_data][currency]=eur\
             &line_items[0][quantity]=2&metadata[order_id]=42",
        );

        let mode = params.take_str("mode").unwrap();
        let mut items = params.take_array("line_items").unwrap();
        let metadata = params.take_nested("metadata").unwrap().unwrap().into_string_map().unwrap();

        assert_eq!(mode.as_deref(), Some("payment"));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].take_i64("quantity").unwrap(), Some(2));
        let mut price_data = items[0].take_nested("price_data").unwrap().unwrap();
        assert_eq!(price_data.take_str("currency").unwrap().as_deref(), Some("eur"));
        assert_eq!(metadata.get("order_id").map(String::as_str), Some("42"));
        params.finish().unwrap();
    }

    #[test]
    fn arrays_come_in_index_order() {
        let mut params = parse("a[10][x]=ten&a[2][x]=two&a[0][x]=zero");

        let names: Vec<_> = params
            .take_array("a")
            .unwrap()
            .into_iter()
            .map(|mut element| element.take_str("x").unwrap().unwrap())
            .collect();

        assert_eq!(names, ["zero", "two", "ten"]);
    }

    #[test]
    fn leftovers_are_unknown_parameters_named_in_full() {
        let mut params = parse("line_items[0][colour]=red");

        let mut items = params.take_array("line_items").unwrap();
        let error = items.remove(0).finish().unwrap_err();

        assert_eq!(error.param(), Some("line_items[0][colour]"));
        assert_eq!(error.code(), Some("parameter_unknown"));
    }

    #[test]
    fn malformed_and_conflicting_keys_are_refused() {
        assert!(Params::parse(b"a[b=1").is_err());
        assert!(Params::parse(b"[b]=1").is_err());
        assert!(Params::parse(b"a]=1").is_err());
        assert!(Params::parse(b"a[b]c=1").is_err());
        assert!(Params::parse(b"a=1&a=2").is_err());
        assert!(Params::parse(b"a=1&a[b]=2").is_err());
        assert!(Params::parse(b"a[b]=2&a=1").is_err());
        assert!(Params::parse("a[x]".repeat(50).as_bytes()).is_err());
    }

    #[test]
    fn kinds_are_checked() {
        let mut params = parse("n=twelve&s[x]=1&m=plain");

        assert_eq!(params.take_i64("n").unwrap_err().code(), Some("parameter_invalid_integer"));
        assert!(params.take_str("s").is_err());
        assert!(params.take_nested("m").is_err());
        assert_eq!(params.require_str("gone").unwrap_err().code(), Some("parameter_missing"));
    }
}
