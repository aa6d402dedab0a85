//! Reads a TOML document into the configuration, refusing an array where a table is
//! expected.
//!
//! serde's derived structs also accept a sequence, read field by field: `api = ["x"]`
//! would set the table's first field (and its error would name that field), and
//! `api = []` would set none and pass. A configuration is written by hand, so such a
//! reading only hides the mistake: here a table must be a table.

use serde::de::value::{MapDeserializer, SeqDeserializer};
use serde::de::{self, Deserializer, IntoDeserializer, Unexpected, Visitor};
use toml::Value;

/// A TOML value whose structs must be tables.
pub(crate) struct StrictTables(pub(crate) Value);

impl<'de> IntoDeserializer<'de, toml::de::Error> for StrictTables {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de> Deserializer<'de> for StrictTables {
    type Error = toml::de::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Table(table) => {
                let mut entries =
                    MapDeserializer::new(table.into_iter().map(|(k, v)| (k, StrictTables(v))));
                let value = visitor.visit_map(&mut entries)?;
                entries.end()?;
                Ok(value)
            }
            Value::Array(items) => {
                let mut items = SeqDeserializer::new(items.into_iter().map(StrictTables));
                let value = visitor.visit_seq(&mut items)?;
                items.end()?;
                Ok(value)
            }
            scalar => scalar.deserialize_any(visitor),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Array(_) => Err(de::Error::invalid_type(Unexpected::Seq, &"a table")),
            other => StrictTables(other).deserialize_any(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::StrictTables;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        count: u16,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default)]
        inner: Inner,
        #[serde(default)]
        list: Vec<String>,
    }

    fn read(text: &str) -> Result<Outer, String> {
        let table: toml::Table = text.parse().unwrap();
        serde_path_to_error::deserialize(StrictTables(toml::Value::Table(table)))
            .map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }

    #[test]
    fn an_array_where_a_table_belongs_is_refused_by_the_tables_name() {
        for text in ["inner = [\"x\"]", "inner = []", "inner = [1, 2]"] {
            let error = read(text).unwrap_err();
            assert!(
                error.starts_with("inner: invalid type: sequence, expected a table"),
                "{text}: {error}"
            );
        }
    }

    #[test]
    fn tables_lists_and_scalars_read_as_before() {
        let outer = read("list = [\"a\", \"b\"]\n[inner]\nname = \"n\"\ncount = 7\n").unwrap();
        assert_eq!(
            outer,
            Outer {
                inner: Inner {
                    name: Some("n".into()),
                    count: 7
                },
                list: vec!["a".into(), "b".into()],
            }
        );
        let error = read("[inner]\ncount = 70000\n").unwrap_err();
        assert!(error.starts_with("inner.count: invalid value"), "{error}");
        let error = read("[inner]\ncolour = 1\n").unwrap_err();
        assert!(error.contains("unknown field `colour`"), "{error}");
    }
}
