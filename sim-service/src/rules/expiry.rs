//! Where a user-authentication certificate stands in its life on a given day:
//! valid, valid but expiring soon, expired but in the grace period, or done.
//!
//! Three rules (docs/service-rules.md; 運用マニュアル, 「ポイント 電子証明書の有効期限切れ」
//! and 「注意事項 スマホ用利用者証明用電子証明書の場合」):
//!
//! - **Grace period, physical card only.** Someone who forgot to renew should not
//!   be turned away at the counter, so a card whose certificate has expired still
//!   confirms eligibility "for three months from the last day of the month in
//!   which the certificate's validity ends": through the **last day of the third
//!   month after the month of expiry** (expiry 2026-02-10 → through 2026-05-31).
//!   During that time only eligibility is returned
//!   ([`CertificateStanding::InGracePeriod`]); after it the card's
//!   health-insurance registration is cancelled (the store's business, not this
//!   rule's).
//! - **No grace for smartphones.** A phone's certificate fails from the first
//!   instant after it expires: with JPKI's notAfter of 23:59:59 JST, from the day
//!   after the expiry date. (The manual says 「有効期間満了日以降」 — "from the expiry
//!   date on" — which read literally would refuse the expiry date itself; the
//!   certificate is valid through that day, so the simulator follows the
//!   certificate.)
//! - **Expiry warning.** From three months before expiry the result carries
//!   「証明書の有効期限が3か月以内となっています。…」. "Three months before" is
//!   taken as a calendar rule on JST dates: the warning shows when today is on or
//!   after the expiry date minus three calendar months, clamped to the end of a
//!   shorter month (expiry 2026-05-31 → warned from 2026-02-28; expiry 2026-05-10
//!   → from 2026-02-10). It shows through the expiry date itself, for phones as
//!   for cards (a phone's certificate expires too, and the notice is about the
//!   certificate).
//!
//! Validity is checked on the certificate's instants with whole seconds, both
//! ends inclusive as RFC 5280 has them: a certificate with notAfter
//! 14:59:59Z is valid all through that second, expired from 15:00:00Z. The grace
//! period and the warning count JST calendar days.

use time::{Date, OffsetDateTime};

use super::Carrier;
use super::calendar;
use super::certificate::ValidityPeriod;
use crate::clock::jst_date;

/// Calendar months after the month of expiry that a physical card stays usable.
pub const GRACE_MONTHS: i64 = 3;
/// Calendar months before expiry from which the result carries the warning.
pub const WARNING_MONTHS: i64 = 3;
/// The banner the app shows on a result with the warning.
pub const EXPIRY_WARNING_BANNER: &str = "3か月以内に証明書が失効します";
/// The notice that accompanies a result while the certificate expires within
/// three months (XML: ProcessingResultMessage next to ProcessingResultStatus 1).
pub const EXPIRY_WARNING_MESSAGE: &str =
    "証明書の有効期限が3か月以内となっています。市区町村の窓口で更新手続きをお願いします。";

/// Where a certificate stands on a given instant. Ordered by the life of a
/// certificate: a later instant never gives an earlier variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateStanding {
    /// Before the certificate's notBefore. Refused.
    NotYetValid { valid_from: Date },
    /// Valid, and more than three months from expiry.
    Valid,
    /// Valid, and within three months of expiry: the result carries
    /// [`EXPIRY_WARNING_MESSAGE`].
    ValidExpiringSoon { expires: Date },
    /// Expired, but a physical card in its grace period: confirms eligibility,
    /// and **only** eligibility.
    InGracePeriod { expired: Date, grace_ends: Date },
    /// Expired beyond any grace. Refused. `grace_ended` is `None` for a
    /// smartphone, which has no grace period.
    Expired {
        expired: Date,
        grace_ended: Option<Date>,
    },
}

impl CertificateStanding {
    /// Whether the certificate may be used to confirm eligibility at all.
    pub fn allows_confirmation(&self) -> bool {
        matches!(
            self,
            CertificateStanding::Valid
                | CertificateStanding::ValidExpiringSoon { .. }
                | CertificateStanding::InGracePeriod { .. }
        )
    }

    /// Whether the answer is limited to eligibility (the grace period).
    pub fn eligibility_only(&self) -> bool {
        matches!(self, CertificateStanding::InGracePeriod { .. })
    }

    /// The notice the result carries, if any.
    pub fn warning(&self) -> Option<&'static str> {
        match self {
            CertificateStanding::ValidExpiringSoon { .. } => Some(EXPIRY_WARNING_MESSAGE),
            _ => None,
        }
    }
}

/// The last day a physical card whose certificate expired on `expiry` (a JST
/// date) still confirms eligibility: the last day of the third month after the
/// month of expiry.
pub fn grace_end(expiry: Date) -> Date {
    calendar::end_of_month_after(expiry, GRACE_MONTHS)
}

/// The first JST day on which a certificate expiring on `expiry` carries the
/// warning: `expiry` minus three calendar months, clamped to a shorter month's
/// last day.
pub fn warning_from(expiry: Date) -> Date {
    calendar::months_before(expiry, WARNING_MONTHS)
}

/// Where a certificate with `validity`, held to the reader on `carrier`, stands
/// at `now`.
pub fn standing(
    carrier: Carrier,
    validity: &ValidityPeriod,
    now: OffsetDateTime,
) -> CertificateStanding {
    let second = now.unix_timestamp();
    let today = jst_date(now);
    let expiry = validity.expiry_date();

    if second < validity.not_before.unix_timestamp() {
        return CertificateStanding::NotYetValid {
            valid_from: validity.start_date(),
        };
    }
    if second <= validity.not_after.unix_timestamp() {
        return if today >= warning_from(expiry) {
            CertificateStanding::ValidExpiringSoon { expires: expiry }
        } else {
            CertificateStanding::Valid
        };
    }
    match carrier {
        Carrier::PhysicalCard => {
            let grace_ends = grace_end(expiry);
            if today <= grace_ends {
                CertificateStanding::InGracePeriod {
                    expired: expiry,
                    grace_ends,
                }
            } else {
                CertificateStanding::Expired {
                    expired: expiry,
                    grace_ended: Some(grace_ends),
                }
            }
        }
        Carrier::Android | Carrier::Iphone => CertificateStanding::Expired {
            expired: expiry,
            grace_ended: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::{date, datetime};
    use time::{Duration, PrimitiveDateTime, Time};

    use crate::clock::JST;

    /// A JPKI-shaped validity: 00:00:00 JST on `from` to 23:59:59 JST on `until`.
    fn jpki(from: Date, until: Date) -> ValidityPeriod {
        ValidityPeriod {
            not_before: PrimitiveDateTime::new(from, Time::MIDNIGHT).assume_offset(JST),
            not_after: PrimitiveDateTime::new(until, time::macros::time!(23:59:59))
                .assume_offset(JST),
        }
    }

    /// Noon JST on `day`.
    fn noon(day: Date) -> OffsetDateTime {
        PrimitiveDateTime::new(day, Time::from_hms(12, 0, 0).unwrap()).assume_offset(JST)
    }

    #[test]
    fn grace_ends_on_the_last_day_of_the_third_month_after() {
        for (expiry, end) in [
            (date!(2026 - 02 - 10), date!(2026 - 05 - 31)),
            (date!(2026 - 11 - 30), date!(2027 - 02 - 28)),
            (date!(2027 - 10 - 31), date!(2028 - 01 - 31)),
            (date!(2027 - 11 - 15), date!(2028 - 02 - 29)),
            (date!(2026 - 12 - 01), date!(2027 - 03 - 31)),
            (date!(2026 - 01 - 31), date!(2026 - 04 - 30)),
            (date!(2026 - 09 - 30), date!(2026 - 12 - 31)),
        ] {
            assert_eq!(grace_end(expiry), end, "{expiry}");
        }
    }

    #[test]
    fn physical_card_grace_edges() {
        let v = jpki(date!(2021 - 02 - 15), date!(2026 - 02 - 10));
        let card = Carrier::PhysicalCard;
        // The last second of validity, then the first second of grace.
        assert_eq!(
            standing(card, &v, datetime!(2026-02-10 23:59:59.999 +09:00)),
            CertificateStanding::ValidExpiringSoon {
                expires: date!(2026 - 02 - 10)
            }
        );
        let in_grace = CertificateStanding::InGracePeriod {
            expired: date!(2026 - 02 - 10),
            grace_ends: date!(2026 - 05 - 31),
        };
        assert_eq!(
            standing(card, &v, datetime!(2026-02-11 00:00:00 +09:00)),
            in_grace
        );
        assert!(in_grace.allows_confirmation() && in_grace.eligibility_only());
        assert_eq!(in_grace.warning(), None);
        // The last second of grace, then refused.
        assert_eq!(
            standing(card, &v, datetime!(2026-05-31 23:59:59 +09:00)),
            in_grace
        );
        let expired = standing(card, &v, datetime!(2026-06-01 00:00:00 +09:00));
        assert_eq!(
            expired,
            CertificateStanding::Expired {
                expired: date!(2026 - 02 - 10),
                grace_ended: Some(date!(2026 - 05 - 31))
            }
        );
        assert!(!expired.allows_confirmation());
        // JST, not UTC: 2026-05-31 15:00Z is already June 1 in Japan.
        assert!(!standing(card, &v, datetime!(2026-05-31 15:00 UTC)).allows_confirmation());
        assert!(standing(card, &v, datetime!(2026-05-31 14:59:59 UTC)).allows_confirmation());
    }

    #[test]
    fn grace_across_month_ends_and_years() {
        let card = Carrier::PhysicalCard;
        for (expiry, last, refused) in [
            (
                date!(2026 - 11 - 30),
                date!(2027 - 02 - 28),
                date!(2027 - 03 - 01),
            ),
            (
                date!(2027 - 10 - 31),
                date!(2028 - 01 - 31),
                date!(2028 - 02 - 01),
            ),
            (
                date!(2027 - 11 - 15),
                date!(2028 - 02 - 29),
                date!(2028 - 03 - 01),
            ),
        ] {
            let v = jpki(date!(2022 - 01 - 01), expiry);
            assert!(
                standing(card, &v, noon(last)).eligibility_only(),
                "{expiry}"
            );
            assert!(
                !standing(card, &v, noon(refused)).allows_confirmation(),
                "{expiry}"
            );
        }
    }

    #[test]
    fn smartphones_have_no_grace() {
        let v = jpki(date!(2025 - 06 - 24), date!(2026 - 02 - 10));
        for phone in [Carrier::Android, Carrier::Iphone] {
            assert!(
                standing(phone, &v, datetime!(2026-02-10 23:59:59 +09:00)).allows_confirmation()
            );
            assert_eq!(
                standing(phone, &v, datetime!(2026-02-11 00:00:00 +09:00)),
                CertificateStanding::Expired {
                    expired: date!(2026 - 02 - 10),
                    grace_ended: None
                }
            );
        }
    }

    #[test]
    fn not_yet_valid() {
        let v = jpki(date!(2026 - 04 - 01), date!(2031 - 03 - 31));
        assert_eq!(
            standing(
                Carrier::PhysicalCard,
                &v,
                datetime!(2026-03-31 23:59:59 +09:00)
            ),
            CertificateStanding::NotYetValid {
                valid_from: date!(2026 - 04 - 01)
            }
        );
        assert_eq!(
            standing(
                Carrier::PhysicalCard,
                &v,
                datetime!(2026-04-01 00:00:00 +09:00)
            ),
            CertificateStanding::Valid
        );
    }

    #[test]
    fn warning_edges() {
        // Same day of the month three months earlier.
        assert_eq!(warning_from(date!(2026 - 05 - 10)), date!(2026 - 02 - 10));
        // Clamped to the end of a shorter month.
        assert_eq!(warning_from(date!(2026 - 05 - 31)), date!(2026 - 02 - 28));
        assert_eq!(warning_from(date!(2028 - 05 - 31)), date!(2028 - 02 - 29));
        // Across a year.
        assert_eq!(warning_from(date!(2027 - 01 - 15)), date!(2026 - 10 - 15));

        let v = jpki(date!(2021 - 06 - 01), date!(2026 - 05 - 31));
        let card = Carrier::PhysicalCard;
        assert_eq!(
            standing(card, &v, datetime!(2026-02-27 23:59:59 +09:00)),
            CertificateStanding::Valid
        );
        let soon = standing(card, &v, datetime!(2026-02-28 00:00:00 +09:00));
        assert_eq!(
            soon,
            CertificateStanding::ValidExpiringSoon {
                expires: date!(2026 - 05 - 31)
            }
        );
        assert_eq!(soon.warning(), Some(EXPIRY_WARNING_MESSAGE));
        assert!(soon.allows_confirmation() && !soon.eligibility_only());
        // Phones are warned too.
        assert_eq!(
            standing(Carrier::Iphone, &v, noon(date!(2026 - 05 - 31))),
            soon
        );
        assert_eq!(CertificateStanding::Valid.warning(), None);
    }

    /// The order of a certificate's life, for the monotonicity property.
    fn rank(s: CertificateStanding) -> u8 {
        match s {
            CertificateStanding::NotYetValid { .. } => 0,
            CertificateStanding::Valid => 1,
            CertificateStanding::ValidExpiringSoon { .. } => 2,
            CertificateStanding::InGracePeriod { .. } => 3,
            CertificateStanding::Expired { .. } => 4,
        }
    }

    /// Any date from 2000-01-01 to 2099-12-31 (by Julian day number).
    fn any_date() -> impl Strategy<Value = Date> {
        (2_451_545i32..2_488_070).prop_map(|d| Date::from_julian_day(d).unwrap())
    }

    proptest! {
        #[test]
        fn grace_end_is_a_month_end_after_expiry_and_within_four_months(expiry in any_date()) {
            let end = grace_end(expiry);
            prop_assert!(end >= expiry);
            prop_assert_eq!(end.next_day().unwrap().day(), 1);
            prop_assert!(end < calendar::months_before(expiry, -4));
            prop_assert!(end - expiry >= Duration::days(89));
            prop_assert!(end - expiry <= Duration::days(122));
            // The month of expiry plus three.
            let months = (end.year() - expiry.year()) * 12
                + i32::from(u8::from(end.month())) - i32::from(u8::from(expiry.month()));
            prop_assert_eq!(months, 3);
        }

        #[test]
        fn warning_starts_within_three_months(expiry in any_date()) {
            let from = warning_from(expiry);
            prop_assert!(from < expiry);
            prop_assert!(expiry - from >= Duration::days(89));
            prop_assert!(expiry - from <= Duration::days(92));
        }

        #[test]
        fn standing_only_moves_forward(
            from in any_date(),
            days in 1i64..4000,
            a in -400i64 * 86_400..5000 * 86_400,
            b in -400i64 * 86_400..5000 * 86_400,
            phone in any::<bool>(),
        ) {
            let until = from + Duration::days(days);
            let v = jpki(from, until);
            let carrier = if phone { Carrier::Iphone } else { Carrier::PhysicalCard };
            let start = v.not_before;
            let (t1, t2) = (start + Duration::seconds(a.min(b)), start + Duration::seconds(a.max(b)));
            prop_assert!(rank(standing(carrier, &v, t1)) <= rank(standing(carrier, &v, t2)));
            if phone {
                prop_assert!(!standing(carrier, &v, t2).eligibility_only());
            }
        }
    }
}
