"""Generate ``customer_messages.tsv``: labelled e-commerce customer messages for classifier heads and cascades.

Every message is built from the templates and phrase lists below (written for tritonkit; no third-party text)
with ``random.Random(SEED)``, so the output is identical on every run. Each row has a sentiment
(negative/positive), a topic (delivery/billing/product/account/support) and a split (train/test, 80/20,
stratified by sentiment and topic).

About a third of the messages are deliberately harder than plain praise or complaint: understated wording,
negation, contrast, questions that imply a complaint, a neutral sentence about another topic, and
lowercase/typo/no-punctuation variants. Labelling rules (see README.md):

* contrast: the clause after "but"/"however" decides the sentiment and the topic;
* negation: the label is the meaning after negation ("not bad at all" is positive);
* the topic is the main subject of the message, not a topic mentioned in passing.

Run from the repository root (writes the TSV next to this script)::

    .venv/bin/python export/data/make_customer_messages.py
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

SEED = 20240611
TEST_FRACTION = 0.2
OUT = Path(__file__).resolve().parent / "customer_messages.tsv"
COLUMNS = ("text", "sentiment", "topic", "split")

SENTIMENTS = ("negative", "positive")
TOPICS = ("delivery", "billing", "product", "account", "support")
# Messages per (sentiment, topic) cell for each kind, 120 in all; every kind but "plain" is a harder case, and so
# are the noisy plain ones: 40 of 120.
QUOTA = {"plain": 85, "mild": 8, "negation": 9, "contrast": 9, "question": 5, "mixed": 4}
NOISY_PLAIN = 5  # plain messages per cell rewritten in lowercase, with typos and without punctuation

SLOTS: dict[str, tuple[str, ...]] = {
    "item": (
        "kettle",
        "blender",
        "coffee machine",
        "toaster",
        "air fryer",
        "hair dryer",
        "vacuum cleaner",
        "food processor",
        "bluetooth speaker",
        "pair of headphones",
        "smart watch",
        "electric toothbrush",
    ),
    "gadget": ("bluetooth speaker", "pair of headphones", "smart watch", "electric toothbrush", "fitness tracker"),
    "garment": ("jacket", "hoodie", "jumper", "dress", "rain coat", "pair of jeans", "fleece"),
    "agent": ("Sara", "Tom", "Priya", "Marco", "Lena", "James", "Aisha", "the agent", "the lady I spoke to"),
    "days": ("3", "4", "5", "6", "8", "10", "12", "14", "three", "five", "ten"),
    "fewdays": ("two days", "48 hours", "a day", "under 24 hours", "two working days"),
}
OPENERS = ("", "", "", "", "Hi,", "Hello,", "Hi there,", "Hey,", "Good morning,", "Quick note:", "Order {order}:")
CLOSERS = {
    "neutral": ("", "", "", "", "Thanks.", "Regards.", "Cheers.", "Thanks in advance.", "Kind regards, {name}."),
    "positive": ("Thank you!", "Keep it up.", "Will definitely order again.", "Five stars.", "Great job!"),
    "negative": (
        "Please sort this out.",
        "Very disappointed.",
        "Not good enough.",
        "I want this fixed.",
        "I expect a reply today.",
    ),
}
NAMES = ("Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jonas", "Kate", "Luis")
CONTRAST = (
    "{A} but {B}.",
    "{A}, but {B}.",
    "{A}. However, {B}.",
    "{A}, however {B}.",
    "To be fair {a}, but {B}.",
    "Yes, {a}, but {B}.",
    "{A}, I'll give you that, but {B}.",
    "Okay, {a}. However, {B}.",
)
MISSPELL = {
    "received": "recieved",
    "definitely": "definately",
    "package": "pakage",
    "please": "pls",
    "you": "u",
    "thanks": "thx",
    "delivery": "delivry",
    "account": "acount",
    "password": "pasword",
    "really": "realy",
    "refund": "refnd",
    "address": "adress",
    "your": "ur",
    "arrived": "arived",
    "customer": "custmer",
    "working": "workin",
    "great": "gr8",
}


@dataclass(frozen=True)
class Phrases:
    """Phrase lists for one (sentiment, topic) cell."""

    plain: tuple[str, ...]  # clear, direct statements
    mild: tuple[str, ...]  # understated wording
    negation: tuple[str, ...]  # the verdict is carried by a negation
    question: tuple[str, ...]  # questions that imply the verdict
    minor: tuple[str, ...]  # a small point of this polarity, used before "but" in the opposite cell
    strong: tuple[str, ...]  # a decisive clause of this polarity, used after "but"/"however"


# In a contrast, the first clause may come from one of these topics; the clause after but/however sets the topic.
CROSS = {
    "delivery": ("support",),
    "billing": ("support", "delivery"),
    "product": ("delivery", "support"),
    "account": ("support",),
    "support": ("delivery", "billing"),
}
CONTEXT: dict[str, tuple[str, ...]] = {  # neutral sentences about one topic, prepended to another topic's message
    "delivery": (
        "I chose standard delivery at checkout.",
        "I picked the evening delivery slot.",
        "I usually get my orders by courier.",
    ),
    "billing": ("I paid by card.", "I paid with PayPal at checkout.", "The payment went through on Friday."),
    "product": (
        "I bought {a_item} from you recently.",
        "I ordered the {item} and a {garment}.",
        "It's about my {item} order.",
    ),
    "account": (
        "I ordered through the app.",
        "I placed the order from my account on the website.",
        "I'm logged in on the app right now.",
    ),
    "support": (
        "An agent told me to email you.",
        "I was told on the chat to write here.",
        "Your chat bot sent me to this form.",
    ),
}

PHRASES: dict[tuple[str, str], Phrases] = {
    ("positive", "delivery"): Phrases(
        plain=(
            "My parcel arrived a day earlier than expected and everything was well packed.",
            "The courier was really friendly and left the box exactly where I asked.",
            "Order {order} turned up the next morning, super fast delivery.",
            "Really impressed with how quickly the {item} was delivered.",
            "The tracking updates were spot on and the driver came right on time.",
            "Delivery was quick and the package was in perfect condition.",
            "Got my {item} in {fewdays}, brilliant service.",
            "The driver called ahead and waited while I came downstairs, lovely guy.",
            "Everything arrived safely and well before the promised date.",
            "Fast free delivery and the box was sealed properly.",
            "Loved that I could pick a delivery slot and it arrived right in it.",
            "The parcel was left with my neighbour as requested, perfect.",
            "Express shipping was worth every cent, it came the same day.",
            "The delivery was smooth from start to finish.",
            "Tracking worked perfectly and the parcel arrived exactly when it said it would.",
        ),
        mild=(
            "Parcel came on the day it said. No complaints.",
            "Delivery was fine, the box was in decent shape.",
            "The {item} got here when expected, which is all I wanted.",
            "Courier was on time, nothing more to say really.",
            "Arrived a little earlier than the estimate, which was nice.",
            "Packaging was a bit basic but everything got here fine.",
        ),
        negation=(
            "Not bad at all, the parcel came two days early.",
            "I can't complain, delivery was quicker than last time.",
            "Never had a problem with your couriers, and this time was no different.",
            "The box wasn't damaged at all, despite the long trip.",
            "No issues with the delivery whatsoever.",
            "Couldn't have asked for a smoother delivery.",
            "I didn't expect the {item} to arrive so soon, nice surprise.",
        ),
        question=(
            "Could you pass on my thanks to the driver? He went out of his way to help.",
            "Is there a way to get the same courier next time? He was excellent.",
            "How did you get it here so fast? Really impressed.",
        ),
        minor=(
            "the courier was friendly",
            "the tracking page is easy to use",
            "I got a delivery slot that suited me",
            "delivery was free",
            "the driver was polite",
            "the courier sent a photo of where he left it",
        ),
        strong=(
            "the {item} was perfectly intact and I'm very happy",
            "everything arrived safely in the end",
            "overall it was a great delivery",
            "the driver was lovely and it all arrived in one piece",
        ),
    ),
    ("negative", "delivery"): Phrases(
        plain=(
            "My parcel is {days} days late and the tracking hasn't updated since Monday.",
            "The box arrived crushed and the {item} inside was broken.",
            "The courier marked order {order} as delivered but nothing was left at my door.",
            "Still waiting for my order after {days} days, this is ridiculous.",
            "The driver threw the package over the fence and it got soaked in the rain.",
            "Half of my order is missing and the delivery note says it was all there.",
            "Delivery was pushed back three times without any explanation.",
            "The parcel was sent to the wrong address even though mine is correct on the order.",
            "I waited in all day for the delivery and nobody turned up.",
            "My package has been stuck at the depot for over a week.",
            "The courier left my parcel in the bin shed and it was stolen.",
            "The tracking link is broken and nobody can tell me where my order is.",
            "Paid for next day delivery and it took {days} days.",
            "The {item} came in a torn bag with no padding at all.",
            "Received someone else's order instead of mine, terrible.",
        ),
        mild=(
            "The parcel came a bit later than promised.",
            "Delivery took a little longer than I'd hoped.",
            "The box was slightly dented when it arrived.",
            "I expected the {item} sooner, given the shipping I paid for.",
            "The driver could have been a bit more careful with the box.",
            "Tracking was a little vague about when it would actually turn up.",
        ),
        negation=(
            "I can't say I'm happy with how long the delivery took.",
            "The parcel still hasn't arrived and nobody has told me why.",
            "The courier didn't even knock, he just left a card.",
            "Not once has my order arrived on the promised day.",
            "The {item} wasn't in the box when I opened it.",
            "I wouldn't call {days} days for express shipping fast.",
            "Nobody from the courier has bothered to reply to my emails.",
        ),
        question=(
            "Why does the tracking say delivered when there's nothing at my door?",
            "Is my parcel ever going to arrive? It's been {days} days.",
            "How is a parcel supposed to reach me if the driver never rings the bell?",
            "Can someone explain why my next day delivery is now a week late?",
            "Where exactly is order {order}? The tracking hasn't moved in days.",
            "What's the point of paying for express shipping if it arrives late?",
        ),
        minor=(
            "the parcel was a day late",
            "the box was a bit battered",
            "the tracking was slow to update",
            "the courier came after the time slot",
            "the driver came quite late in the day",
        ),
        strong=(
            "the box arrived crushed and the {item} was broken",
            "the parcel turned up {days} days late",
            "half of my order was missing",
            "the parcel was left out in the rain and everything was ruined",
        ),
    ),
    ("positive", "billing"): Phrases(
        plain=(
            "My refund of {amount} landed in my account within two days, thank you.",
            "The invoice was clear and matched exactly what I ordered.",
            "Really easy to pay with my card, the checkout was smooth.",
            "You refunded the duplicate charge straight away, much appreciated.",
            "The discount code worked first time and the total was correct.",
            "Thanks for sending the VAT invoice so quickly, that helped a lot.",
            "Great that I could split the payment into instalments, very handy.",
            "The price match was applied without any fuss.",
            "Got my money back for the returned {item} really quickly.",
            "Billing has been spot on every month since I subscribed.",
            "Love that the receipt comes straight to my email with everything itemised.",
            "The refund for order {order} was processed the same day you received it.",
            "Cancelling my subscription was easy and I wasn't charged again.",
        ),
        mild=(
            "The refund came through in the end, which is fine.",
            "Invoice looks correct to me.",
            "Payment went through without any issue.",
            "The bill was about what I expected.",
            "Refund arrived within the stated time frame.",
        ),
        negation=(
            "Not a single problem with the refund, it was back on my card in two days.",
            "I can't fault how quickly you sorted the overcharge.",
            "No hidden fees and no surprises, just what I expected to pay.",
            "I wasn't expecting the refund so fast, very pleasant surprise.",
            "Never been overcharged once in three years of ordering.",
            "Didn't have to chase the refund at all, it just arrived.",
        ),
        question=(
            "Can I say thanks to whoever sorted my refund so quickly?",
            "Is it always this easy to get a refund? Really impressed.",
            "Who knew paying an invoice could be this painless?",
        ),
        minor=(
            "the checkout was quick",
            "the prices are fair",
            "the refund was approved",
            "the invoice arrived on time",
            "there are plenty of payment options",
        ),
        strong=(
            "the money was back on my card well within a week",
            "the final bill was correct and I'm happy with it",
            "in the end I got every cent back",
            "the bill itself was exactly right",
        ),
    ),
    ("negative", "billing"): Phrases(
        plain=(
            "I've been charged twice for order {order} and still haven't had the money back.",
            "My refund of {amount} was promised two weeks ago and hasn't arrived.",
            "The invoice shows a price much higher than what was on the website.",
            "You took {amount} from my card for an order I cancelled.",
            "I was charged a delivery fee even though it said free shipping.",
            "The discount code was accepted but the total didn't change.",
            "My subscription renewed without any warning and now I can't get a refund.",
            "I still haven't received an invoice for my company order despite asking three times.",
            "There are hidden fees on my bill that nobody explained.",
            "The payment page crashed and I was still charged {amount}.",
            "You keep charging my old card even though I removed it.",
            "I returned the {item} a month ago and I'm still waiting for my money.",
            "The refund was for the wrong amount, I'm missing {amount}.",
        ),
        mild=(
            "The refund took a bit longer than the five days you mention.",
            "The invoice is a little confusing, I'm not sure what the second line is for.",
            "I'd have liked a heads-up before the price went up.",
            "Slightly annoyed that the delivery fee only showed at the very last step.",
            "The receipt is missing my company name, which is a bit of a nuisance.",
        ),
        negation=(
            "I can't say I'm happy about being charged twice.",
            "The refund still hasn't shown up on my statement.",
            "I never agreed to this monthly fee.",
            "Nobody has explained why my invoice is {amount} higher than last month.",
            "That's not the price I was quoted at checkout.",
            "I don't see my refund anywhere, and it's been {days} days.",
        ),
        question=(
            "Why have I been charged {amount} for something I never ordered?",
            "When exactly am I getting my refund? It's been {days} days.",
            "How can the invoice be higher than the price shown on the site?",
            "Is anyone going to explain these extra charges on my card?",
            "Why do I keep getting billed after I cancelled my subscription?",
            "What happened to the refund you promised me last month?",
        ),
        minor=(
            "the refund took a few extra days",
            "the invoice had a small typo",
            "the checkout was a bit slow",
            "I had to ask twice for the receipt",
            "the payment page looks a bit dated",
        ),
        strong=(
            "I was charged twice and still don't have my money back",
            "the invoice is {amount} more than I agreed",
            "the refund still hasn't arrived after {days} days",
            "you charged my card for an order I cancelled",
        ),
    ),
    ("positive", "product"): Phrases(
        plain=(
            "The {item} is brilliant, exactly as described and really well made.",
            "Absolutely love my new {item}, the quality is amazing for the price.",
            "The {item} works perfectly and looks even better than in the photos.",
            "Great quality {garment}, the fabric feels solid and the stitching is neat.",
            "The battery on the {gadget} lasts for days, really impressed.",
            "The {garment} fits perfectly and feels really comfortable, will buy another colour.",
            "Best {item} I've owned, sturdy and easy to use.",
            "Setup took two minutes and the {item} has worked flawlessly since.",
            "Really pleased with the build quality of the {item}, it feels premium.",
            "The colour of the {garment} is exactly like the picture and it washes well.",
            "My kids love the {gadget}, it has held up to a lot of rough use.",
            "Excellent product, the {item} does exactly what it promises.",
            "The size guide was spot on and the {garment} looks great.",
        ),
        mild=(
            "The {item} does the job. Happy enough.",
            "Decent quality for the price.",
            "It's a solid {item}, nothing fancy, but it works.",
            "The {garment} fits well and seems durable so far.",
            "The {item} does what it says on the box.",
        ),
        negation=(
            "Not bad at all, the {item} is much sturdier than I expected.",
            "I can't fault the quality, the {garment} is really well made.",
            "Haven't had a single problem with the {item} in three months.",
            "Honestly couldn't be happier with this {item}.",
            "No complaints about the {item}, it does everything I need.",
            "I wasn't sure about the {item} at first, now I use it every day.",
        ),
        question=(
            "Do you sell the {garment} in other colours? I love mine.",
            "Is there a bigger version of the {item}? This one is fantastic.",
            "Can I buy a second {item} at the same price? It's that good.",
        ),
        minor=(
            "it looks nice",
            "the packaging was lovely",
            "the colour is great",
            "it was cheap",
            "the design is clever",
        ),
        strong=(
            "the {item} works brilliantly and I'd definitely buy it again",
            "the quality of the {item} is excellent and I use it daily",
            "overall I'm really happy with the {item}",
            "the {item} itself is fantastic",
        ),
    ),
    ("negative", "product"): Phrases(
        plain=(
            "The {item} stopped working after just {days} days.",
            "The quality is terrible, the {item} feels cheap and flimsy.",
            "The colour of the {garment} looks nothing like the photos on the website.",
            "The {item} arrived with a crack in the casing and won't turn on.",
            "The zip broke the first time I wore the {garment}.",
            "The battery on the {gadget} barely lasts an hour, very disappointing.",
            "The {garment} shrank after one wash even though I followed the label.",
            "The {item} makes a horrible buzzing noise every time I use it.",
            "Sizes are way off, I ordered a medium {garment} and it fits like an extra small.",
            "A part snapped off the {item} within a week.",
            "Half the features advertised for the {item} don't actually work.",
            "The {garment} smells strongly of chemicals and the material is already peeling.",
            "This is the second {item} in a row that's faulty.",
        ),
        mild=(
            "The {item} is a bit smaller than I expected from the photos.",
            "The material of the {garment} feels a little thinner than I'd hoped.",
            "The {item} is okay, but the buttons are quite stiff.",
            "The {item} is a bit more fiddly to use than my old one.",
            "Slightly disappointed with the colour, it's duller than pictured.",
        ),
        negation=(
            "I can't say I'm happy with the quality of this {item}.",
            "The {item} is not what I expected at all.",
            "The {item} is not worth the money, to be honest.",
            "The {item} doesn't work half the time and I have no idea why.",
            "I wouldn't recommend this {item} to anyone.",
            "The {garment} doesn't fit anything like the size chart says.",
        ),
        question=(
            "Is the {item} supposed to get this hot after five minutes?",
            "Why does the {garment} look nothing like the photos?",
            "How is a brand new {item} already falling apart?",
            "Is this really the quality I should expect for {amount}?",
            "Am I the only one whose {gadget} stopped charging after a week?",
            "Does anyone actually check the {item} before sending it out?",
        ),
        minor=(
            "the instructions were confusing",
            "it's a little heavier than I expected",
            "the colour is slightly different from the photo",
            "it took a while to set up",
            "the box was plain",
        ),
        strong=(
            "the {item} stopped working after {days} days",
            "the {item} broke the second time I used it",
            "the {item} feels really cheap and I want to return it",
            "the {item} is faulty and won't switch on",
        ),
    ),
    ("positive", "account"): Phrases(
        plain=(
            "Resetting my password took less than a minute, really easy.",
            "The two-factor login is quick and makes me feel safe.",
            "Changing my email address in the account settings was simple.",
            "Love the new app, logging in with my fingerprint is so convenient.",
            "Merging my two accounts was painless, thanks.",
            "I could update my address and payment details in seconds.",
            "The login page is fast and I never get logged out anymore.",
            "Deleting my old card from my account was quick and easy.",
            "The password reset email arrived instantly.",
            "Setting up my account took two minutes and everything was clear.",
            "The app remembers my details so checkout is a breeze.",
            "Really like that I can see all my past orders in my account.",
        ),
        mild=(
            "Password reset worked fine.",
            "The login works, which is all I need.",
            "Account setup was straightforward enough.",
            "The new settings page is fine once you find it.",
        ),
        negation=(
            "Not bad at all, the new login is much quicker.",
            "No more problems logging in since the update.",
            "Never had an issue with my account in years.",
            "I didn't think it would be that easy to reset my password.",
            "Can't fault the new app, logging in is instant now.",
        ),
        question=(
            "Who designed the new login screen? It's so much easier now.",
            "Is the fingerprint login on the app new? It's brilliant.",
        ),
        minor=(
            "the new app looks nice",
            "the sign-up was quick",
            "the settings page is tidy",
            "the app has a nice dark mode",
        ),
        strong=(
            "I was back in my account straight away and everything works",
            "logging in is fast and reliable now",
            "overall managing my account is really easy",
            "the password reset worked first time",
        ),
    ),
    ("negative", "account"): Phrases(
        plain=(
            "I can't log in to my account, it keeps saying my password is wrong.",
            "The password reset email never arrives, I've tried five times.",
            "My account was locked for no reason and I can't get back in.",
            "The app logs me out every time I close it.",
            "Someone changed my email address and I can't access my account anymore.",
            "The verification code never comes through by text.",
            "I've been stuck in a login loop on the app all morning.",
            "My order history has disappeared from my account.",
            "The app crashes every time I try to open my account page.",
            "I was signed up to a newsletter I never asked for and can't find how to unsubscribe.",
            "Two-factor authentication keeps rejecting the code I'm sent.",
            "I can't change my address in my account, the save button does nothing.",
            "My saved cards vanished from my account after the update.",
        ),
        mild=(
            "The login page is a bit slow these days.",
            "It's a little annoying having to log in again every time.",
            "The settings menu is slightly confusing to find your way around.",
            "The password reset link expires a bit quickly.",
            "The app takes a while to load my account details.",
        ),
        negation=(
            "I can't say I'm happy with being locked out of my own account.",
            "I still can't log in, and it's been {days} days.",
            "The reset link doesn't work, no matter what I try.",
            "None of my saved addresses are showing in my account anymore.",
            "I haven't been able to access my account since the update.",
            "The app won't accept my password even though it's correct.",
        ),
        question=(
            "Why does the app keep logging me out?",
            "How am I supposed to reset my password if the email never arrives?",
            "Why was my account locked without any warning?",
            "Is anyone going to help me get back into my account?",
            "Where has my order history gone?",
            "What's the point of two-factor login if the code never arrives?",
        ),
        minor=(
            "the reset link took a minute to arrive",
            "the app looks a bit dated",
            "I had to verify my email twice",
            "the settings are a bit hidden",
        ),
        strong=(
            "I still can't log in to my account",
            "the app logs me out every few minutes",
            "my account is locked and nobody can unlock it",
            "the password reset email never arrives",
        ),
    ),
    ("positive", "support"): Phrases(
        plain=(
            "{Agent} on the live chat was so helpful and sorted everything in minutes.",
            "Thanks to {agent} for being patient and explaining everything clearly.",
            "Customer service called me back within the hour, brilliant.",
            "The support team went above and beyond to help me.",
            "I got a helpful reply to my email the same day.",
            "{Agent} was polite, friendly and fixed my issue on the first call.",
            "Really impressed with how quickly your team answered my question.",
            "The agent listened to me and offered a solution straight away.",
            "Fantastic customer service, I'll definitely shop here again.",
            "Your support staff are always kind and knowledgeable.",
            "The chat bot handed me over to a real person quickly and they were great.",
            "I was dreading calling, but {agent} made it really easy.",
        ),
        mild=(
            "The agent answered my question.",
            "Got a reply from support within a day, which is fair.",
            "Support sorted it eventually, happy with that.",
            "The chat was quick and did the job.",
        ),
        negation=(
            "Not bad at all, {agent} had it sorted in ten minutes.",
            "I can't thank {agent} enough for the help today.",
            "Never had such quick help from a customer service team.",
            "I didn't have to wait at all, someone picked up straight away.",
            "No complaints about support, they were quick and helpful.",
            "Couldn't have asked for a nicer agent.",
        ),
        question=(
            "Can you please tell {agent}'s manager how helpful they were?",
            "Is there somewhere I can leave a review for the support team? They were fantastic.",
        ),
        minor=("the agent was polite", "{agent} apologised", "someone picked up quickly", "the chat was easy to find"),
        strong=(
            "{agent} fixed everything and was lovely to deal with",
            "the issue was solved on the same call",
            "overall the support was excellent",
            "the agent really went out of their way to help",
        ),
    ),
    ("negative", "support"): Phrases(
        plain=(
            "I've been on hold for over an hour and nobody has picked up.",
            "The agent hung up on me halfway through my explanation.",
            "I've sent four emails to customer service and haven't had a single reply.",
            "The chat bot just goes round in circles and never connects me to a person.",
            "{Agent} promised to call me back and never did.",
            "Every agent tells me something different and nothing gets solved.",
            "The support team was rude and didn't listen at all.",
            "I was told my ticket was closed even though my problem isn't fixed.",
            "Nobody in customer service seems to know what they're doing.",
            "I keep getting copy-paste replies from support that don't answer my question.",
            "Waited {days} days for a reply to my complaint, awful service.",
            "The agent on the phone was dismissive and cut me off.",
        ),
        mild=(
            "The reply from support took a little longer than I expected.",
            "The answer I got from support felt a bit generic.",
            "I had to explain my problem twice, which was slightly frustrating.",
            "Hold times are a bit long in the mornings.",
            "The support page could be a little clearer about opening hours.",
        ),
        negation=(
            "I can't say I'm happy with the way customer service handled this.",
            "Nobody has got back to me about my complaint.",
            "The agent didn't even try to understand the problem.",
            "I still haven't heard back from support after {days} days.",
            "Not one person on your support team has actually helped.",
            "I wouldn't call that customer service.",
        ),
        question=(
            "Is anyone actually reading my emails?",
            "Why does it take {days} days to get a reply from support?",
            "How many times do I need to explain the same problem to your agents?",
            "Can I speak to someone who actually knows how to fix this?",
            "Why did {agent} close my ticket when nothing was solved?",
            "What's the point of a live chat if nobody ever answers?",
        ),
        minor=(
            "I had to wait a few minutes on hold",
            "the first reply was a bit generic",
            "the chat took a while to connect",
            "I had to explain it twice",
        ),
        strong=(
            "my problem still isn't solved after three calls",
            "nobody ever followed up like they promised",
            "the agent had no idea how to help me",
            "nobody has answered my follow-up emails for {days} days",
        ),
    ),
}


def cap(text: str) -> str:
    """Upper-case the first letter of a template ("{agent}" becomes "{Agent}")."""
    return "{Agent}" + text[7:] if text.startswith("{agent}") else text[:1].upper() + text[1:]


def low(text: str) -> str:
    """Lower-case the first letter of a template, unless it starts with a name, "I" or an acronym."""
    if text.startswith("{Agent}"):
        return "{agent}" + text[7:]
    word = re.sub(r"('s)?[,.:]?$", "", text.split(" ", 1)[0])
    keep = (
        word in NAMES
        or word in SLOTS["agent"]
        or word == "I"
        or word.startswith("I'")
        or (len(word) > 1 and word.isupper())
    )
    return text if keep else text[:1].lower() + text[1:]


def fill(template: str, rng: random.Random) -> str:
    """Fill the {slots} of a template; every occurrence of a slot gets the same value."""
    item, agent = rng.choice(SLOTS["item"]), rng.choice(SLOTS["agent"])
    values = {
        "item": item,
        "a_item": ("an " if item[0] in "aeiou" else "a ") + item,
        "garment": rng.choice(SLOTS["garment"]),
        "gadget": rng.choice(SLOTS["gadget"]),
        "agent": agent,
        "Agent": cap(agent),
        "days": rng.choice(SLOTS["days"]),
        "fewdays": rng.choice(SLOTS["fewdays"]),
        "order": f"#{rng.randint(100000, 999999)}",
        "amount": f"€{rng.randint(9, 240)}.{rng.choice(('00', '49', '95', '99'))}",
        "name": rng.choice(NAMES),
    }
    return template.format(**values)


def wrap(body: str, sentiment: str, rng: random.Random, strong_closer: bool) -> str:
    """Add an optional greeting and sign-off; only plain messages may get a sentiment-bearing sign-off."""
    opener = rng.choice([o for o in OPENERS if "{order}" not in o or "{order}" not in body])
    pool = CLOSERS["neutral"] + (CLOSERS[sentiment] if strong_closer else ())
    parts = [opener, low(body) if opener.endswith(",") else body, rng.choice(pool)]
    return " ".join(p for p in parts if p)


def noisy(text: str, rng: random.Random) -> str:
    """Lower-case, often drop punctuation and add one or two typos, like a message typed on a phone."""
    text = text.lower()
    if rng.random() < 0.7:
        text = re.sub(r"[.,!?:]", "", text)
    if rng.random() < 0.5:
        text = text.replace("'", "")
    words = text.split()
    candidates = [i for i, w in enumerate(words) if w in MISSPELL or (len(w) > 4 and w.isalpha())]
    for i in rng.sample(candidates, min(len(candidates), rng.randint(1, 2))):
        word = words[i]
        if word in MISSPELL:
            words[i] = MISSPELL[word]
        else:
            j = rng.randrange(1, len(word) - 2)
            words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]  # swap two neighbouring letters
    return " ".join(words)


def products(template: str) -> set[str]:
    """The product slots a template mentions."""
    return set(re.findall(r"\{(item|gadget|garment)\}", template))


def make(kind: str, sentiment: str, topic: str, rng: random.Random) -> str:
    """One message of the given kind for the (sentiment, topic) cell."""
    cell = PHRASES[sentiment, topic]
    strong_closer = False
    if kind == "plain":
        body = rng.choice(cell.plain)
        if rng.random() < 0.3:  # two sentences, about the same kind of product if any
            seconds = [p for p in cell.plain if p != body and products(p) <= products(body)]
            body = f"{body} {rng.choice(seconds)}" if seconds else body
        strong_closer = rng.random() < 0.5
    elif kind == "contrast":  # the clause after but/however decides; the first clause may be about another topic
        other = "negative" if sentiment == "positive" else "positive"
        side_topic = topic if rng.random() < 0.7 else rng.choice(CROSS[topic])
        minor = rng.choice(PHRASES[other, side_topic].minor)
        body = rng.choice(CONTRAST).format(A=cap(minor), a=minor, B=rng.choice(cell.strong))
    elif kind == "mixed":  # a neutral sentence about another topic, then the message proper
        context = rng.choice(CONTEXT[rng.choice([t for t in TOPICS if t != topic])])
        body = f"{context} {rng.choice(cell.plain + cell.negation)}"
    else:
        body = rng.choice(getattr(cell, kind))
    return fill(wrap(body, sentiment, rng, strong_closer), rng)


def key(text: str) -> str:
    """Duplicate key: letters and digits only, lower-cased."""
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def generate(seed: int = SEED) -> list[dict[str, str]]:
    """All rows, shuffled: each cell's unique messages, the first fifth of each shuffled cell in the test split."""
    rng = random.Random(seed)
    seen: set[str] = set()
    rows: list[dict[str, str]] = []
    for sentiment in SENTIMENTS:
        for topic in TOPICS:
            cell: list[str] = []
            for kind, count in QUOTA.items():
                made = 0
                for _ in range(200 * count):
                    if made == count:
                        break
                    text = make(kind, sentiment, topic, rng)
                    if kind == "plain" and made < NOISY_PLAIN:
                        text = noisy(text, rng)
                    if key(text) in seen or not 4 <= len(text.split()) <= 40:
                        continue
                    seen.add(key(text))
                    cell.append(text)
                    made += 1
                if made < count:
                    raise RuntimeError(f"only {made} unique {kind} messages for {sentiment}/{topic}")
            rng.shuffle(cell)
            n_test = round(TEST_FRACTION * len(cell))
            rows += [
                {"text": t, "sentiment": sentiment, "topic": topic, "split": "test" if i < n_test else "train"}
                for i, t in enumerate(cell)
            ]
    rng.shuffle(rows)
    return rows


def main() -> None:
    rows = generate()
    lines = ["\t".join(COLUMNS)] + ["\t".join(row[c] for c in COLUMNS) for row in rows]
    if any("\t" in r["text"] or "\n" in r["text"] for r in rows):
        raise ValueError("a message contains a tab or a newline")
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    counts = Counter((r["sentiment"], r["topic"], r["split"]) for r in rows)
    print(f"wrote {len(rows)} rows to {OUT}")
    for (sentiment, topic, split), n in sorted(counts.items()):
        print(f"  {sentiment:8} {topic:8} {split:5} {n}")


if __name__ == "__main__":
    main()
