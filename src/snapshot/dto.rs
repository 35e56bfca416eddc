//! The `dto!` macro, which declares a transfer object whose encoding is its fields in
//! order, so that the encoder and the decoder cannot disagree on the order.

/// Declares a transfer object `struct Name / NameField { field: Type, ... }`: the struct,
/// its encoding (the fields in order) and its decoding, which tells the
/// [schedule](super::schedule) after each field which one it was (as `NameField::field`,
/// an enum of the field names). The schema lists fields; what the load does with them is
/// the schedule's business alone.
macro_rules! dto {
    ($(#[$meta:meta])* struct $name:ident / $fields:ident {
        $($(#[$fmeta:meta])* $field:ident: $ty:ty,)*
    }) => {
        $(#[$meta])*
        pub(super) struct $name<'a> {
            $($(#[$fmeta])* pub(super) $field: $ty,)*
        }

        #[doc = concat!("The fields of [`", stringify!($name), "`], as the schedule knows them.")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[allow(non_camel_case_types, reason = "named exactly as the fields")]
        pub(super) enum $fields {
            $(#[allow(dead_code, reason = "the schedule names only some fields")] $field,)*
        }

        impl From<$fields> for Field {
            fn from(field: $fields) -> Field {
                Field::$name(field)
            }
        }

        impl Encode for $name<'_> {
            fn encode<E: Encoder>(&self, encoder: &mut E) -> Result<(), EncodeError> {
                $(self.$field.encode(encoder)?;)*
                Ok(())
            }
        }

        impl Decode<DecodeContext> for $name<'static> {
            fn decode<D: Decoder<Context = DecodeContext>>(decoder: &mut D) -> Result<Self, DecodeError> {
                $(
                    let mut $field = Decode::decode(decoder)?;
                    schedule::decoded(decoder.context(), Field::from($fields::$field), &mut $field);
                )*
                Ok($name { $($field,)* })
            }
        }
    };
}

pub(super) use dto;
