"""A small, realistic help centre for retrieval-quality tests: Brightwell, a fictional smart-home company.

28 articles (PDFs with pages, web pages with anchors, a Markdown FAQ) of 2 to 4 passages each, and
questions with the article that answers them. The questions come in two kinds:

- ``keyword``: carry a product code, an error code or a term of art ("E-4012", "BW-T300", "RMA",
  "DDP"). Several articles share the same shape (three error-code tables, two warranty articles), so a
  vector model that reads "an error code question" lands on the wrong table; words find the right one.
- ``paraphrase``: say it the way a customer would ("my parcel says it arrived but it isn't here") with
  few of the article's words; meaning finds them, words mostly do not.

Recall is counted per article (the expected *source*), and there are enough articles that a random
top 5 finds the right one only about a fifth of the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from knowledge.models import SourceType


@dataclass(frozen=True)
class Passage:
    heading: str
    text: str
    page_number: int | None = None
    anchor: str = ""


@dataclass(frozen=True)
class Article:
    key: str
    title: str
    source_type: str
    passages: tuple[Passage, ...]
    original_filename: str = ""
    source_url: str = ""

    @property
    def source(self) -> str:
        return self.original_filename or self.source_url


@dataclass(frozen=True)
class Question:
    text: str
    expected: str  # Article.key
    kind: Literal["keyword", "paraphrase"]


HELP = "https://help.brightwell.example"

ARTICLES: tuple[Article, ...] = (
    Article(
        key="returns-policy",
        title="Returns and refunds policy",
        source_type=SourceType.FILE,
        original_filename="returns-policy.pdf",
        passages=(
            Passage(
                "Return window",
                "You can return most Brightwell products within 30 days of delivery for a full refund. "
                "Items must be in their original packaging with all accessories, cables and the quick "
                "start guide. The 30-day window starts on the delivery date shown in your order history, "
                "not the order date.",
                page_number=1,
            ),
            Passage(
                "Items that cannot be returned",
                "Some items are final sale and cannot be returned: gift cards, opened packs of batteries, "
                "products marked Clearance, and wiring accessories such as the BW-PEK power extender kit "
                "once they have been installed. Personalised engraved faceplates are also non-returnable.",
                page_number=2,
            ),
            Passage(
                "Opened and used items",
                "Opened items in good condition are accepted within the return window. If the original "
                "box or accessories are missing we deduct a 15% restocking fee from the refund. Items with "
                "physical damage caused after delivery are refused and shipped back to you.",
                page_number=2,
            ),
        ),
    ),
    Article(
        key="start-a-return",
        title="How to start a return",
        source_type=SourceType.URL,
        source_url=f"{HELP}/returns/start-a-return",
        passages=(
            Passage(
                "Request a return authorisation",
                "Sign in, open Orders, choose the order and select Return items. Pick the items and a "
                "reason, and we issue a Return Merchandise Authorisation. Your RMA number looks like "
                "RMA-482913 and is shown on the confirmation page and in the email we send you.",
                anchor="#rma",
            ),
            Passage(
                "Print the label and drop it off",
                "The confirmation email contains a prepaid UPS return label. Write the RMA number on the "
                "outside of the box, attach the label and drop the parcel at any UPS Access Point within "
                "14 days. Returns that arrive without an RMA number take up to two weeks longer to process.",
                anchor="#label",
            ),
            Passage(
                "Returning a gift",
                "If you received a Brightwell device as a present, use the gift receipt code instead of an "
                "order number. Refunds for gifts are issued as store credit to the recipient, so the person "
                "who bought it is not notified.",
                anchor="#gifts",
            ),
        ),
    ),
    Article(
        key="refund-timelines",
        title="When will I get my refund?",
        source_type=SourceType.URL,
        source_url=f"{HELP}/returns/refund-timelines",
        passages=(
            Passage(
                "Inspection and processing",
                "Our warehouse inspects returned items within 3 to 5 business days of receiving them. "
                "Once the inspection passes, the refund is issued to the original payment method and you "
                "get an email confirming the amount.",
                anchor="#processing",
            ),
            Passage(
                "How long your bank takes",
                "After we issue the refund, card issuers usually take 5 to 10 business days to show the "
                "credit on your statement. PayPal refunds normally appear within 24 hours, and store credit "
                "is available in your account immediately.",
                anchor="#bank",
            ),
            Passage(
                "Shipping costs and partial refunds",
                "Original shipping charges are not refunded unless the item arrived defective or we sent "
                "the wrong product. Bundles returned incomplete receive a partial refund for the items sent "
                "back.",
                anchor="#shipping-costs",
            ),
        ),
    ),
    Article(
        key="exchanges",
        title="Exchanging an item",
        source_type=SourceType.URL,
        source_url=f"{HELP}/returns/exchanges",
        passages=(
            Passage(
                "Exchange for another colour or model",
                "Within 30 days of delivery you can exchange a device for a different colour or a different "
                "model of the same product family, for example a white doorbell for a black one. If the new "
                "model costs more, we charge the difference; if it costs less, we refund it.",
                anchor="#how",
            ),
            Passage(
                "Advance exchange",
                "With an advance exchange we ship the replacement before you send the original back. We "
                "place a temporary hold for the item's price on your card and release it when the original "
                "reaches our warehouse, or charge it if the original does not arrive within 21 days.",
                anchor="#advance",
            ),
        ),
    ),
    Article(
        key="shipping-options",
        title="Shipping options and delivery times",
        source_type=SourceType.FILE,
        original_filename="shipping.html",
        passages=(
            Passage(
                "Delivery speeds",
                "Standard shipping takes 3 to 7 business days and is free on orders over $50. Express "
                "shipping arrives in 1 to 2 business days for $14.99. Next-day delivery is available for "
                "orders placed before 1 pm Eastern time, Monday to Thursday, for $24.99.",
                anchor="#speeds",
            ),
            Passage(
                "P.O. boxes and military addresses",
                "We deliver to P.O. boxes and to APO, FPO and DPO military addresses with Standard shipping "
                "only, through USPS. Express and next-day services need a street address.",
                anchor="#po-boxes",
            ),
            Passage(
                "When your order ships",
                "Orders placed on a business day before 3 pm Eastern time leave our warehouse the same day. "
                "You receive a tracking link by email as soon as the carrier scans the parcel.",
                anchor="#dispatch",
            ),
        ),
    ),
    Article(
        key="international",
        title="International shipping, customs and duties",
        source_type=SourceType.URL,
        source_url=f"{HELP}/shipping/international",
        passages=(
            Passage(
                "Where we ship",
                "Outside the United States we ship to Canada, the United Kingdom, the European Union, "
                "Australia and New Zealand. Devices sold in each region come with the right power plug.",
                anchor="#countries",
            ),
            Passage(
                "Customs duties and import VAT",
                "Orders to the UK and the EU ship DDP (delivered duty paid): import VAT and customs duties "
                "are included in the price at checkout and nothing is collected on delivery. Orders to "
                "Canada ship DAP, so the courier collects duties and GST from you before delivery.",
                anchor="#duties",
            ),
            Passage(
                "International returns",
                "International customers can return items within 30 days, but return postage is at your "
                "own cost unless the item is defective. Duties paid on DAP shipments are not refunded by "
                "Brightwell; claim them back from your customs authority.",
                anchor="#returns",
            ),
        ),
    ),
    Article(
        key="lost-package",
        title="Missing, late or damaged deliveries",
        source_type=SourceType.URL,
        source_url=f"{HELP}/shipping/missing-or-damaged",
        passages=(
            Passage(
                "Tracking says delivered but nothing arrived",
                "If tracking shows the parcel as delivered but you cannot find it, wait 48 hours, since "
                "carriers sometimes mark parcels early. Check with neighbours and your building's mail "
                "room. After that, contact us and we open an investigation with the carrier and send a "
                "replacement or refund.",
                anchor="#not-received",
            ),
            Passage(
                "Damaged in transit",
                "If the box or the device arrives broken, take photos of the packaging and the product and "
                "report it within 7 days of delivery. We send a replacement at no cost and you do not need "
                "to return the damaged item.",
                anchor="#damaged",
            ),
            Passage(
                "Late deliveries",
                "Express and next-day orders that arrive late get their shipping fee refunded automatically "
                "when the carrier confirms the delay.",
                anchor="#late",
            ),
        ),
    ),
    Article(
        key="order-changes",
        title="Changing or cancelling an order",
        source_type=SourceType.URL,
        source_url=f"{HELP}/orders/change-or-cancel",
        passages=(
            Passage(
                "Cancel an order",
                "You can cancel an order yourself within 60 minutes of placing it from the Orders page. "
                "After that it has been sent to our warehouse for packing; refuse the delivery or return it "
                "once it arrives instead.",
                anchor="#cancel",
            ),
            Passage(
                "Change the delivery address",
                "To send an order to a different address, contact support before it ships. Once the parcel "
                "is with the carrier we can no longer redirect it, but most carriers let you reroute it "
                "from their tracking page.",
                anchor="#address",
            ),
        ),
    ),
    Article(
        key="warranty-coverage",
        title="Brightwell limited warranty",
        source_type=SourceType.FILE,
        original_filename="warranty.pdf",
        passages=(
            Passage(
                "Warranty period",
                "Brightwell hubs, thermostats and cameras carry a 2-year limited warranty from the date of "
                "purchase. Smart plugs, sensors and accessories carry a 1-year limited warranty.",
                page_number=1,
            ),
            Passage(
                "What the warranty covers",
                "The warranty covers defects in materials and workmanship under normal use: a device that "
                "stops powering on, a failed radio, a faulty display or sensor. We repair or replace the "
                "device free of charge.",
                page_number=1,
            ),
            Passage(
                "What the warranty does not cover",
                "Not covered: accidental damage such as drops and cracked screens, water or liquid damage "
                "beyond the device's weather rating, damage from unauthorised repairs, normal cosmetic wear, "
                "and batteries.",
                page_number=2,
            ),
            Passage(
                "Extended warranty with Protect Plus",
                "Subscribers to Brightwell Protect Plus get the warranty of every device on their account "
                "extended to 4 years for as long as the subscription stays active.",
                page_number=3,
            ),
        ),
    ),
    Article(
        key="warranty-claim",
        title="Making a warranty claim",
        source_type=SourceType.URL,
        source_url=f"{HELP}/warranty/claim",
        passages=(
            Passage(
                "Before you claim",
                "Most problems are fixed by a restart or a factory reset, so support walks through "
                "troubleshooting with you first. If that does not help, we open a warranty case.",
                anchor="#before",
            ),
            Passage(
                "What you need",
                "Have the device's serial number ready: it starts with BW-SN and is printed on the back of "
                "the device and in the app under Device settings > About. You also need proof of purchase, "
                "such as the order number or a retailer's receipt.",
                anchor="#what-you-need",
            ),
            Passage(
                "Replacement and returning the faulty unit",
                "Approved claims get a replacement unit shipped free of charge. Send the faulty unit back "
                "within 30 days using the prepaid label in the box, or the replacement is charged to your "
                "card.",
                anchor="#replacement",
            ),
        ),
    ),
    Article(
        key="account-password",
        title="Signing in and resetting your password",
        source_type=SourceType.URL,
        source_url=f"{HELP}/account/password",
        passages=(
            Passage(
                "Reset a forgotten password",
                "On the sign-in screen choose Forgot password and enter your email address. We email a "
                "reset link that is valid for 60 minutes. If it does not arrive, check your spam folder "
                "and make sure you used the address your account is registered with.",
                anchor="#reset",
            ),
            Passage(
                "Account locked after failed attempts",
                "After 5 incorrect passwords in a row, sign-in is blocked for 15 minutes to protect your "
                "account. Wait, then try again or reset your password; support cannot unlock it sooner.",
                anchor="#locked",
            ),
        ),
    ),
    Article(
        key="two-factor",
        title="Two-factor authentication",
        source_type=SourceType.URL,
        source_url=f"{HELP}/account/two-factor",
        passages=(
            Passage(
                "Turn on two-factor authentication",
                "In Account > Security, turn on two-factor authentication and scan the QR code with an "
                "authenticator app such as Google Authenticator or 1Password, or choose SMS codes. Every "
                "new sign-in then asks for a 6-digit code.",
                anchor="#enable",
            ),
            Passage(
                "Backup codes",
                "When you enable 2FA we show 10 single-use backup codes. Store them somewhere safe: each "
                "one signs you in once when your authenticator is not at hand.",
                anchor="#backup-codes",
            ),
            Passage(
                "Lost your phone",
                "If you lost the phone with your authenticator and have no backup codes, contact support "
                "to recover the account. We verify your identity with a photo ID and a recent order, which "
                "takes up to 3 business days, and then remove 2FA so you can set it up again.",
                anchor="#lost-device",
            ),
        ),
    ),
    Article(
        key="account-delete",
        title="Deleting your account and your data",
        source_type=SourceType.URL,
        source_url=f"{HELP}/account/delete",
        passages=(
            Passage(
                "Export your data first",
                "Under Account > Privacy you can download a copy of your data: profile, device history, "
                "automations and recorded clips, as a ZIP archive prepared within 48 hours.",
                anchor="#export",
            ),
            Passage(
                "Delete the account",
                "Cancel any active subscription, then choose Delete account under Account > Privacy. Your "
                "devices are reset and removed, and all personal data, including video recordings, is "
                "permanently erased within 30 days, as required by the GDPR.",
                anchor="#delete",
            ),
        ),
    ),
    Article(
        key="household-sharing",
        title="Sharing your home with household members",
        source_type=SourceType.URL,
        source_url=f"{HELP}/account/household",
        passages=(
            Passage(
                "Invite people to your home",
                "Open Home settings > People and invite up to 6 members by email. Members can control "
                "every device, run scenes and see camera feeds, but cannot remove devices or change "
                "billing.",
                anchor="#invite",
            ),
            Passage(
                "Guest access",
                "Guests get access to the devices you pick, for example the front door lock and the "
                "hallway lights, for a limited time such as a weekend. Guest access ends automatically at "
                "the time you set.",
                anchor="#guests",
            ),
        ),
    ),
    Article(
        key="billing-plans",
        title="Brightwell Protect plans and pricing",
        source_type=SourceType.FILE,
        original_filename="protect-plans.md",
        passages=(
            Passage(
                "Protect Basic",
                "Protect Basic costs $4.99 per month per home and keeps 30 days of video history for up to "
                "two cameras, with person and package detection.",
                anchor="#basic",
            ),
            Passage(
                "Protect Plus",
                "Protect Plus costs $9.99 per month and covers unlimited cameras with 60 days of video "
                "history, 24/7 professional monitoring and an extended device warranty.",
                anchor="#plus",
            ),
            Passage(
                "Annual billing",
                "Paying yearly costs the same as 10 months: Protect Basic is $49.90 a year and Protect Plus "
                "is $99.90 a year.",
                anchor="#annual",
            ),
        ),
    ),
    Article(
        key="billing-payment",
        title="Payment methods, invoices and failed payments",
        source_type=SourceType.FILE,
        original_filename="payments-faq.md",
        passages=(
            Passage(
                "Accepted payment methods",
                "We accept Visa, Mastercard, American Express, Discover and PayPal. Update your card under "
                "Account > Billing > Payment method.",
                anchor="#methods",
            ),
            Passage(
                "Invoices and receipts",
                "An invoice is emailed after every subscription charge. All past invoices can be downloaded "
                "as PDF files from Account > Billing > Invoices, with your company name and VAT number if "
                "you add them.",
                anchor="#invoices",
            ),
            Passage(
                "Failed payments and PAY-402",
                "If a renewal charge fails you see error PAY-402 (card declined). We retry the charge 3 "
                "times over 7 days; if every retry fails, the subscription is downgraded to the free plan "
                "and video history beyond 24 hours is deleted.",
                anchor="#failed",
            ),
        ),
    ),
    Article(
        key="billing-cancel",
        title="Cancelling or changing your subscription",
        source_type=SourceType.FILE,
        original_filename="subscription-faq.md",
        passages=(
            Passage(
                "Cancel your subscription",
                "You can cancel Protect at any time from Account > Billing > Subscription. You keep the "
                "plan's features until the end of the period you already paid for, and you are not charged "
                "again.",
                anchor="#cancel",
            ),
            Passage(
                "Refunds on yearly plans",
                "Yearly plans cancelled within 14 days of a renewal are refunded in full. After 14 days we "
                "refund the unused whole months.",
                anchor="#annual-refunds",
            ),
            Passage(
                "Upgrade or downgrade",
                "Switching from Basic to Plus takes effect immediately and you pay the prorated difference. "
                "Switching from Plus to Basic takes effect at the next renewal date.",
                anchor="#switch",
            ),
        ),
    ),
    Article(
        key="hub-errors",
        title="Hub H2 status lights and error codes",
        source_type=SourceType.FILE,
        original_filename="hub-h2-troubleshooting.pdf",
        passages=(
            Passage(
                "Status lights",
                "A pulsing amber light means the Hub H2 is in setup mode. Solid white means it is online. "
                "Flashing red means an error: open the app to see the error code.",
                page_number=4,
            ),
            Passage(
                "E-4012: cannot reach the Brightwell cloud",
                "Error E-4012 means the hub is on your Wi-Fi but cannot reach the Brightwell cloud. Make "
                "sure your router or firewall allows outgoing connections on TCP port 8883 and that DNS "
                "works, then restart the hub.",
                page_number=5,
            ),
            Passage(
                "E-4021 and E-4030",
                "Error E-4021 means the Wi-Fi password was rejected; re-enter it in the app, respecting "
                "upper and lower case. Error E-4030 means a firmware update failed; keep the hub powered on "
                "and it retries the update within an hour.",
                page_number=5,
            ),
        ),
    ),
    Article(
        key="camera-errors",
        title="Doorbell camera D1 error codes",
        source_type=SourceType.FILE,
        original_filename="doorbell-d1-troubleshooting.pdf",
        passages=(
            Passage(
                "E-5003: low voltage",
                "Error E-5003 means the D1 doorbell receives too little power. It needs a doorbell "
                "transformer of 16 to 24 V AC rated at least 10 VA; older 10 V transformers must be "
                "replaced.",
                page_number=8,
            ),
            Passage(
                "E-5110: storage error",
                "Error E-5110 means the doorbell's local storage is full or corrupted. Format the microSD "
                "card from Device settings > Storage, or replace it with a card of 128 GB or less.",
                page_number=8,
            ),
            Passage(
                "E-5207: motion detection paused",
                "Error E-5207 means motion detection is paused because every zone is covered by a privacy "
                "mask. Edit the privacy zones so at least part of the view is watched.",
                page_number=9,
            ),
        ),
    ),
    Article(
        key="thermostat-errors",
        title="Thermostat T3 error codes",
        source_type=SourceType.FILE,
        original_filename="thermostat-t3-troubleshooting.pdf",
        passages=(
            Passage(
                "E-3101: no power on the C wire",
                "Error E-3101 means the thermostat is not getting continuous power from the C (common) "
                "wire. Check that the C wire is connected at both the thermostat and the furnace control "
                "board, or install the power extender kit.",
                page_number=12,
            ),
            Passage(
                "E-3200: temperature sensor fault",
                "Error E-3200 means the built-in temperature sensor reports impossible readings. Remove "
                "the thermostat from its base for 30 seconds and put it back; if the error returns, start a "
                "warranty claim.",
                page_number=12,
            ),
        ),
    ),
    Article(
        key="thermostat-setup",
        title="Installing the T3 thermostat (BW-T300)",
        source_type=SourceType.FILE,
        original_filename="thermostat-t3-install.html",
        passages=(
            Passage(
                "Compatibility",
                "The BW-T300 works with most 24 V heating and cooling systems: gas and oil furnaces, heat "
                "pumps and central air conditioning. It is not compatible with 120 V or 240 V line-voltage "
                "systems such as electric baseboard heaters.",
                anchor="#compatibility",
            ),
            Passage(
                "Wiring and the C wire",
                "Turn off power at the breaker before removing your old thermostat and photograph the "
                "wiring. The thermostat needs a C wire; if your system has none, use the BW-PEK power "
                "extender kit included in the box.",
                anchor="#wiring",
            ),
            Passage(
                "Finish setup in the app",
                "Mount the thermostat on its base, restore power and follow the app, which asks which "
                "wires are connected and tests heating and cooling.",
                anchor="#app",
            ),
        ),
    ),
    Article(
        key="lock-errors",
        title="Smart lock L2 error codes",
        source_type=SourceType.FILE,
        original_filename="lock-l2-troubleshooting.pdf",
        passages=(
            Passage(
                "E-4102: bolt obstructed",
                "Error E-4102 means the bolt could not extend fully. The door is probably misaligned with "
                "the strike plate; tighten the hinges or file the strike opening, then run the lock "
                "calibration again.",
                page_number=15,
            ),
            Passage(
                "E-4120: low battery lockout",
                "Error E-4120 means the four AA batteries are too weak to turn the bolt. Replace them with "
                "fresh alkaline or lithium batteries; the physical key always works in the meantime.",
                page_number=15,
            ),
            Passage(
                "E-4201: tamper alarm",
                "Error E-4201 means someone forced the thumb turn or removed the interior cover while the "
                "lock was armed. Check the door, then clear the alarm in the app.",
                page_number=16,
            ),
        ),
    ),
    Article(
        key="indoor-camera-errors",
        title="Indoor camera C2 error codes",
        source_type=SourceType.FILE,
        original_filename="camera-c2-troubleshooting.pdf",
        passages=(
            Passage(
                "E-5013: stream cannot start",
                "Error E-5013 means live view could not start because the upload speed is too low. The C2 "
                "needs at least 2 Mbps of upload bandwidth for HD video; lower the video quality in Device "
                "settings or move the router closer.",
                page_number=20,
            ),
            Passage(
                "E-5101: lens cover closed",
                "Error E-5101 means the privacy shutter is closed, so the camera cannot record. Slide the "
                "shutter open or turn off the schedule that closes it at home.",
                page_number=20,
            ),
        ),
    ),
    Article(
        key="sensor-errors",
        title="Motion and contact sensor error codes",
        source_type=SourceType.FILE,
        original_filename="sensors-troubleshooting.pdf",
        passages=(
            Passage(
                "E-7003: sensor out of range",
                "Error E-7003 means the sensor has not reached the hub for more than an hour. Sensors use "
                "Zigbee and should be within 30 feet of the hub or of a plugged-in Brightwell device that "
                "relays the signal.",
                page_number=24,
            ),
            Passage(
                "E-7110: magnet gap too wide",
                "Error E-7110 means the contact sensor's magnet is more than half an inch from the sensor "
                "when the door is closed. Move the magnet closer or use the spacer from the box.",
                page_number=24,
            ),
        ),
    ),
    Article(
        key="lock-install",
        title="Installing the smart lock L2 (BW-L200)",
        source_type=SourceType.FILE,
        original_filename="lock-l2-install.html",
        passages=(
            Passage(
                "Door requirements",
                "The BW-L200 fits standard doors 1-3/8 to 2-1/4 inches thick with a 2-1/8 inch bore hole "
                "and a backset of 2-3/8 or 2-3/4 inches. It replaces the interior side of your deadbolt "
                "and keeps your existing keys on the outside.",
                anchor="#door",
            ),
            Passage(
                "Calibration",
                "After mounting, the app turns the bolt a few times to learn where locked and unlocked "
                "are. Keep the door open during calibration.",
                anchor="#calibrate",
            ),
        ),
    ),
    Article(
        key="indoor-camera-setup",
        title="Setting up the indoor camera C2 (BW-C210)",
        source_type=SourceType.FILE,
        original_filename="camera-c2-setup.html",
        passages=(
            Passage(
                "Placement",
                "Place the BW-C210 on a shelf or mount it on a wall at least 6 feet high. Night vision "
                "reaches 25 feet; avoid pointing it at a window, where reflections blind the infrared.",
                anchor="#placement",
            ),
            Passage(
                "Privacy shutter and schedules",
                "The camera has a physical privacy shutter. You can close it automatically when everyone "
                "in your household is home, using the Home and Away schedule.",
                anchor="#privacy",
            ),
        ),
    ),
    Article(
        key="thermostat-lite",
        title="Thermostat T3 Lite (BW-T310) specifications",
        source_type=SourceType.FILE,
        original_filename="thermostat-t3-lite-specs.pdf",
        passages=(
            Passage(
                "Supported systems",
                "The BW-T310 Lite controls single-stage heating and cooling systems. Unlike the BW-T300 it "
                "does not support heat pumps with auxiliary heat, two-stage furnaces or humidifiers.",
                page_number=1,
            ),
            Passage(
                "Power",
                "The BW-T310 runs on two AAA batteries for about a year, so it works without a C wire. "
                "When a C wire is present it uses it and the batteries only act as a backup.",
                page_number=1,
            ),
        ),
    ),
    Article(
        key="smart-plug",
        title="Smart plug P1 (BW-P10) setup and limits",
        source_type=SourceType.FILE,
        original_filename="smart-plug-p1-setup.html",
        passages=(
            Passage(
                "Connecting the plug",
                "The P1 smart plug connects to 2.4 GHz Wi-Fi networks only. If your router broadcasts a "
                "single combined network name, temporarily turn off 5 GHz during setup.",
                anchor="#wifi",
            ),
            Passage(
                "Load limits",
                "The BW-P10 is rated for 15 A and 1800 W resistive loads. Do not use it with space "
                "heaters, air conditioners or other appliances that draw their full rated current for "
                "hours.",
                anchor="#limits",
            ),
        ),
    ),
)


QUESTIONS: tuple[Question, ...] = (
    # --- keyword-heavy: codes and terms of art -----------------------------------------------------
    Question("What does error E-4012 mean?", "hub-errors", "keyword"),
    Question("doorbell shows E-5003", "camera-errors", "keyword"),
    Question("thermostat error E-3101", "thermostat-errors", "keyword"),
    Question("E-4030", "hub-errors", "keyword"),
    Question("E-5110 on my D1", "camera-errors", "keyword"),
    Question("Is the BW-T300 compatible with baseboard heaters?", "thermostat-setup", "keyword"),
    Question("PAY-402 card declined", "billing-payment", "keyword"),
    Question("Where do I find my RMA number?", "start-a-return", "keyword"),
    Question("BW-P10 maximum wattage", "smart-plug", "keyword"),
    Question("Where is the BW-SN serial number?", "warranty-claim", "keyword"),
    Question("APO FPO DPO addresses", "shipping-options", "keyword"),
    Question("Do UK orders ship DDP?", "international", "keyword"),
    Question("How many 2FA backup codes do I get?", "two-factor", "keyword"),
    Question("TCP port 8883", "hub-errors", "keyword"),
    Question("E-4102", "lock-errors", "keyword"),
    Question("lock says E-4120", "lock-errors", "keyword"),
    Question("What is error E-5101?", "indoor-camera-errors", "keyword"),
    Question("E-5013", "indoor-camera-errors", "keyword"),
    Question("Does the BW-T310 need a C wire?", "thermostat-lite", "keyword"),
    Question("BW-T310 heat pump support", "thermostat-lite", "keyword"),
    Question("E-7110 keeps showing", "sensor-errors", "keyword"),
    Question("Will the BW-L200 fit a 2-1/4 inch door?", "lock-install", "keyword"),
    Question("BW-C210 night vision range", "indoor-camera-setup", "keyword"),
    # --- paraphrased: a customer's words, few of the article's --------------------------------------
    Question(
        "I changed my mind about something I bought last week, can I send it back?",
        "returns-policy",
        "paraphrase",
    ),
    Question(
        "How long until the money is back on my card after I send something back?",
        "refund-timelines",
        "paraphrase",
    ),
    Question("The parcel says it arrived but it isn't at my door", "lost-package", "paraphrase"),
    Question("The box was crushed and the thing inside is broken", "lost-package", "paraphrase"),
    Question("Can I swap the white one for the black one?", "exchanges", "paraphrase"),
    Question("How quickly can I get it if I pay more?", "shipping-options", "paraphrase"),
    Question("Will I have to pay import taxes when it arrives in Germany?", "international", "paraphrase"),
    Question("I can't remember my login details", "account-password", "paraphrase"),
    Question("I got a new phone and no longer receive the sign-in codes", "two-factor", "paraphrase"),
    Question("Please erase everything you store about me", "account-delete", "paraphrase"),
    Question("Can my partner control the lights too?", "household-sharing", "paraphrase"),
    Question("How much is the monthly subscription?", "billing-plans", "paraphrase"),
    Question("Where can I get a receipt for what I was charged?", "billing-payment", "paraphrase"),
    Question("I want to stop paying for the plan", "billing-cancel", "paraphrase"),
    Question("My hub died after a year, will you fix it for free?", "warranty-coverage", "paraphrase"),
    Question("I dropped my doorbell in the pool, is that covered?", "warranty-coverage", "paraphrase"),
    Question("I ordered the wrong thing a few minutes ago, can I stop it?", "order-changes", "paraphrase"),
    Question("Can you send my order somewhere else instead?", "order-changes", "paraphrase"),
    Question("Can I plug a heater into the smart outlet?", "smart-plug", "paraphrase"),
    Question("Do you give back what I paid for delivery?", "refund-timelines", "paraphrase"),
    Question("I typed the wrong password too many times and now I'm stuck", "account-password", "paraphrase"),
    Question(
        "My friends are staying over the weekend, can they open the door?", "household-sharing", "paraphrase"
    ),
)


def article(key: str) -> Article:
    return next(item for item in ARTICLES if item.key == key)
