"""A generated enterprise warehouse of 1,000 tables on PostgreSQL, for measuring schema retrieval.

About 150 *core* tables in 20 business domains (sales, HR, inventory, logistics, finance, marketing, …) with
realistic names, ``COMMENT ON`` descriptions, declared foreign keys (some left undeclared, named
``<table>_id``, so inference has work) and a few rows each; the rest are the *derived* tables every real
warehouse grows around them — ``_history``, ``_daily_snapshot``, ``_staging``, ``_archive``, ``_audit_log``,
``_monthly_summary`` — with the same columns, so they compete with the core tables in retrieval.

``python -m evals.large_schema [--tables 1000] [--dsn ...]`` drops and recreates the database
``sqlbot_large_<suffix>`` on 127.0.0.1:5432 and prints its URL. Questions with gold tables and gold SQL
are in ``evals/datasets/large_schema.jsonl`` (written before retrieval was tuned).
"""

from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATASET = REPO / "evals" / "datasets" / "large_schema.jsonl"
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"

_TYPES = {"t": "text", "i": "integer", "n": "numeric(12,2)", "d": "date", "ts": "timestamp", "b": "boolean"}

# domain prefix: (description, {entity: "description | column:type[=v1/v2/…] or column>ref_entity, …"})
# A reference ``>entity`` points into the same domain; ``>domain.entity`` across domains; ``>>`` is a key
# left undeclared (inferred from the name). Column comments are derived from the names and the entity.
DOMAINS: dict[str, tuple[str, dict[str, str]]] = {
    "crm": ("Customer relationship management", {
        "customers": "Customers who bought at least once | customer_name:t, email:t, segment:t=Consumer/Corporate/Home Office, country:t=Germany/France/China/United States/Brazil, city:t=Berlin/Paris/Shanghai/Chicago/São Paulo, signup_date:d, is_vip:b",
        "contacts": "People at customer accounts we talk to | customer_id>customers, first_name:t, last_name:t, job_title:t=Buyer/CFO/Engineer/Office Manager, phone:t",
        "leads": "Prospective customers not yet converted | company_name:t, source:t=Webinar/Trade Show/Referral/Cold Call, status:t=new/qualified/lost/converted, owner_id>hr.employees, created_at:ts",
        "opportunities": "Open and closed sales opportunities | lead_id>leads, customer_id>customers, stage:t=prospecting/proposal/negotiation/won/lost, expected_amount:n, close_date:d",
        "activities": "Calls, meetings and e-mails logged against contacts | contact_id>contacts, activity_type:t=call/meeting/email, activity_date:d, duration_minutes:i",
        "customer_segments": "Marketing segments customers are grouped into | segment_name:t=Consumer/Corporate/Home Office, description:t",
        "customer_addresses": "Billing and shipping addresses of customers | customer_id>customers, address_type:t=billing/shipping, street:t, city:t=Berlin/Paris/Shanghai/Chicago/São Paulo, postal_code:t",
        "loyalty_accounts": "Loyalty programme membership and points balance | customer_id>customers, tier:t=Bronze/Silver/Gold/Platinum, points_balance:i, joined_on:d",
        "loyalty_transactions": "Points earned and redeemed | loyalty_account_id>loyalty_accounts, points:i, reason:t=purchase/redemption/bonus, occurred_at:ts",
        "customer_feedback": "Survey answers and net promoter scores | customer_id>customers, nps_score:i, comment:t, submitted_at:ts",
    }),
    "sales": ("Orders, invoices and pricing", {
        "orders": "Customer orders | customer_id>crm.customers, order_date:d, status:t=placed/shipped/delivered/cancelled/returned, channel:t=web/store/phone/partner, store_id>retail.stores, sales_rep_id>hr.employees, total_amount:n",
        "order_items": "Lines of each order: product, quantity and price | order_id>orders, product_id>catalog.products, quantity:i, unit_price:n, discount:n",
        "invoices": "Invoices issued for orders | order_id>orders, invoice_date:d, due_date:d, amount:n, currency:t=EUR/USD/CNY, status:t=open/paid/overdue",
        "payments": "Payments received against invoices | invoice_id>invoices, paid_on:d, amount:n, method:t=card/bank transfer/paypal/alipay",
        "refunds": "Money returned to customers | order_id>orders, refund_date:d, amount:n, reason:t=damaged/late/wrong item/changed mind",
        "quotes": "Price quotes sent to prospects | opportunity_id>crm.opportunities, quote_date:d, amount:n, valid_until:d",
        "price_lists": "Named price lists by market | price_list_name:t=Retail EU/Retail US/Wholesale, currency:t=EUR/USD, valid_from:d",
        "price_list_items": "Prices of products on each price list | price_list_id>price_lists, product_id>catalog.products, list_price:n",
        "discounts": "Discount campaigns and coupon codes | code:t, percent_off:n, starts_on:d, ends_on:d",
        "sales_targets": "Monthly revenue targets per sales rep | sales_rep_id>hr.employees, target_month:d, target_amount:n",
        "commissions": "Commission paid to sales reps per order | order_id>orders, sales_rep_id>hr.employees, commission_amount:n",
        "returns": "Returned goods and their condition | order_item_id>order_items, returned_on:d, quantity:i, condition:t=new/opened/damaged",
    }),
    "catalog": ("Products and their classification", {
        "products": "Products we sell | product_name:t, sku:t, category_id>categories, brand_id>brands, supplier_id>procurement.suppliers, unit_cost:n, list_price:n, launched_on:d, is_active:b",
        "categories": "Product categories (Furniture, Office Supplies, Technology …) | category_name:t=Furniture/Office Supplies/Technology/Garden/Toys, parent_category_id>categories",
        "brands": "Brands of the products | brand_name:t=Acme/Globex/Initech/Umbrella/Hooli, country:t=Germany/United States/Japan",
        "product_attributes": "Size, colour and other attributes of products | product_id>products, attribute_name:t=colour/size/material, attribute_value:t",
        "product_images": "Pictures shown on the web shop | product_id>products, url:t, is_primary:b",
        "product_reviews": "Star ratings and reviews written by customers | product_id>products, customer_id>crm.customers, rating:i, review_text:t, reviewed_at:ts",
        "bundles": "Products sold together as a bundle | bundle_name:t, bundle_price:n",
        "bundle_items": "Products inside each bundle | bundle_id>bundles, product_id>products, quantity:i",
        "product_tags": "Free-form tags attached to products | product_id>products, tag:t=eco/bestseller/new/clearance",
    }),
    "inventory": ("Stock in warehouses", {
        "warehouses": "Warehouses and distribution centres | warehouse_name:t=Rotterdam Hub/Leipzig DC/Shanghai DC/Chicago DC, city:t=Rotterdam/Leipzig/Shanghai/Chicago, capacity_pallets:i, manager_id>hr.employees",
        "stock_levels": "On-hand quantity of each product in each warehouse | warehouse_id>warehouses, product_id>catalog.products, quantity_on_hand:i, reorder_point:i",
        "stock_movements": "Goods received, picked and transferred | warehouse_id>warehouses, product_id>catalog.products, movement_type:t=receipt/pick/transfer/adjustment, quantity:i, moved_at:ts",
        "bins": "Storage bins inside warehouses | warehouse_id>warehouses, aisle:t, shelf:t, bin_code:t",
        "cycle_counts": "Periodic physical stock counts | warehouse_id>warehouses, product_id>catalog.products, counted_quantity:i, counted_on:d",
        "stock_adjustments": "Corrections of stock after counts or damage | product_id>catalog.products, warehouse_id>warehouses, quantity_change:i, reason:t=damage/theft/count difference",
        "reorder_rules": "When and how much to reorder | product_id>catalog.products, min_quantity:i, reorder_quantity:i",
        "lots": "Production lots and expiry dates | product_id>catalog.products, lot_number:t, expires_on:d",
    }),
    "logistics": ("Shipping goods to customers", {
        "shipments": "Parcels sent to customers | order_id>sales.orders, carrier_id>carriers, warehouse_id>inventory.warehouses, shipped_at:ts, delivered_at:ts, shipping_cost:n, status:t=in transit/delivered/lost",
        "carriers": "Parcel and freight carriers | carrier_name:t=DHL/FedEx/UPS/Maersk/SF Express, mode:t=parcel/freight/air",
        "shipment_items": "Order lines packed into each shipment | shipment_id>shipments, order_item_id>sales.order_items, quantity:i",
        "tracking_events": "Scan events reported by carriers | shipment_id>shipments, event_type:t=picked up/in transit/out for delivery/delivered, event_time:ts, location:t",
        "routes": "Delivery routes of our own trucks | route_name:t, origin_warehouse_id>inventory.warehouses, distance_km:n",
        "vehicles": "Trucks and vans of the fleet | plate_number:t, vehicle_type:t=truck/van, capacity_kg:n",
        "drivers": "Drivers of the fleet | employee_id>hr.employees, licence_class:t=B/C/CE",
        "delivery_slots": "Time windows offered for delivery | slot_start:ts, slot_end:ts, capacity:i",
        "freight_rates": "Carrier prices per zone and weight | carrier_id>carriers, zone:t=domestic/eu/international, max_weight_kg:n, rate:n",
    }),
    "hr": ("People, pay and organisation", {
        "employees": "Everyone employed by the company | first_name:t, last_name:t, email:t, hire_date:d, job_title:t=Sales Rep/Engineer/Analyst/Manager/Driver, department_id>departments, manager_id>employees, salary:n, office_id>facilities.offices, is_active:b",
        "departments": "Departments of the organisation | department_name:t=Sales/Engineering/Finance/Logistics/Marketing/HR, cost_center_id>finance.cost_centers",
        "positions": "Open and filled positions | title:t, department_id>departments, grade:t=G1/G2/G3/G4",
        "payroll_runs": "Monthly payroll runs | period_month:d, run_date:d, total_gross:n",
        "payslips": "Pay of each employee per payroll run | payroll_run_id>payroll_runs, employee_id>employees, gross_pay:n, net_pay:n, tax:n",
        "leave_requests": "Holidays and sick leave requested | employee_id>employees, leave_type:t=vacation/sick/parental, start_date:d, end_date:d, status:t=approved/pending/rejected",
        "performance_reviews": "Yearly performance reviews | employee_id>employees, review_year:i, rating:i, reviewer_id>employees",
        "trainings": "Training courses offered | course_name:t=Safety/SQL Basics/Negotiation/Leadership, hours:i",
        "training_enrollments": "Employees enrolled in trainings | training_id>trainings, employee_id>employees, completed:b, completed_on:d",
        "job_applications": "Applications received for positions | position_id>positions, applicant_name:t, applied_on:d, stage:t=screening/interview/offer/hired/rejected",
        "benefits": "Benefits employees signed up for | employee_id>employees, benefit_type:t=health/pension/gym, monthly_cost:n",
        "timesheets": "Hours worked per employee and day | employee_id>employees, work_date:d, hours:n, project_id>projects.projects",
    }),
    "finance": ("Accounting and budgets", {
        "accounts": "Chart of accounts (general ledger) | account_number:t, account_name:t, account_type:t=asset/liability/equity/revenue/expense",
        "journal_entries": "General ledger journal entries | entry_date:d, description:t, posted:b",
        "journal_lines": "Debit and credit lines of journal entries | journal_entry_id>journal_entries, account_id>accounts, debit:n, credit:n, cost_center_id>cost_centers",
        "cost_centers": "Cost centres that budgets and costs are booked to | cost_center_name:t=Head Office/Sales EU/Sales US/Warehouses/IT",
        "budgets": "Yearly budget per cost centre and account | cost_center_id>cost_centers, account_id>accounts, fiscal_year:i, budget_amount:n",
        "exchange_rates": "Daily currency exchange rates | rate_date:d, from_currency:t=EUR/USD/CNY, to_currency:t=EUR/USD/CNY, rate:n",
        "fiscal_periods": "Fiscal months and their closing state | period_start:d, period_end:d, is_closed:b",
        "tax_rates": "VAT and sales tax rates by country | country:t=Germany/France/China/United States, rate:n",
        "bank_accounts": "Company bank accounts | bank_name:t=Deutsche Bank/HSBC/Chase, iban:t, currency:t=EUR/USD/CNY",
        "bank_transactions": "Statement lines of the bank accounts | bank_account_id>bank_accounts, booked_on:d, amount:n, counterparty:t",
        "expenses": "Employee expense claims | employee_id>hr.employees, expense_date:d, category:t=travel/meals/hotel/software, amount:n, approved:b",
        "assets": "Fixed assets and their depreciation | asset_name:t, acquired_on:d, purchase_cost:n, useful_life_years:i",
    }),
    "procurement": ("Buying from suppliers", {
        "suppliers": "Companies we buy products from | supplier_name:t=Foxconn/Bosch/Steelcase/3M/Haier, country:t=China/Germany/United States, rating:i",
        "purchase_orders": "Orders we place with suppliers | supplier_id>suppliers, ordered_on:d, expected_on:d, status:t=draft/sent/received/cancelled, warehouse_id>inventory.warehouses",
        "purchase_order_lines": "Products and quantities on purchase orders | purchase_order_id>purchase_orders, product_id>catalog.products, quantity:i, unit_cost:n",
        "goods_receipts": "Deliveries received from suppliers | purchase_order_id>purchase_orders, received_on:d, received_by>>hr.employees",
        "supplier_invoices": "Invoices suppliers send us | supplier_id>suppliers, purchase_order_id>purchase_orders, invoice_date:d, amount:n, paid:b",
        "supplier_contracts": "Framework contracts with suppliers | supplier_id>suppliers, starts_on:d, ends_on:d, annual_value:n",
        "supplier_ratings": "Quality and punctuality scores of suppliers | supplier_id>suppliers, rated_on:d, quality_score:i, on_time_rate:n",
        "requisitions": "Internal requests to buy something | employee_id>hr.employees, requested_on:d, description:t, amount:n",
    }),
    "marketing": ("Campaigns and channels", {
        "campaigns": "Marketing campaigns | campaign_name:t=Spring Sale/Black Friday/Back to School/Singles Day, channel_id>channels, starts_on:d, ends_on:d, budget:n",
        "channels": "Marketing channels | channel_name:t=Email/Search/Social/Display/TV",
        "campaign_spend": "Daily spend per campaign | campaign_id>campaigns, spend_date:d, spend:n, impressions:i, clicks:i",
        "email_sends": "Marketing e-mails sent to customers | campaign_id>campaigns, customer_id>crm.customers, sent_at:ts, opened:b, clicked:b",
        "promotions": "Price promotions on products | product_id>catalog.products, campaign_id>campaigns, promo_price:n, starts_on:d, ends_on:d",
        "attributions": "Orders attributed to campaigns | order_id>sales.orders, campaign_id>campaigns, weight:n",
        "ab_tests": "A/B tests and their variants | test_name:t, variant:t=A/B, started_on:d",
        "landing_pages": "Landing pages of campaigns | campaign_id>campaigns, url:t, visits:i, conversions:i",
        "social_posts": "Posts on social networks | channel_id>channels, posted_at:ts, likes:i, shares:i",
    }),
    "web": ("Web shop analytics", {
        "sessions": "Visits to the web shop | customer_id>crm.customers, started_at:ts, device:t=desktop/mobile/tablet, country:t=Germany/France/China/United States, duration_seconds:i",
        "page_views": "Pages viewed in each session | session_id>sessions, url:t, viewed_at:ts",
        "search_queries": "Searches typed into the shop | session_id>sessions, query_text:t, results_count:i",
        "carts": "Shopping carts | session_id>sessions, customer_id>crm.customers, created_at:ts, converted:b",
        "cart_items": "Products put into carts | cart_id>carts, product_id>catalog.products, quantity:i",
        "wishlists": "Products customers saved for later | customer_id>crm.customers, product_id>catalog.products, added_at:ts",
        "checkout_errors": "Errors customers hit at checkout | session_id>sessions, error_code:t=payment_declined/address_invalid/timeout, occurred_at:ts",
    }),
    "support": ("Customer service", {
        "tickets": "Support tickets raised by customers | customer_id>crm.customers, order_id>sales.orders, opened_at:ts, closed_at:ts, priority:t=low/medium/high/urgent, status:t=open/pending/solved, agent_id>agents, category:t=delivery/billing/product defect/account",
        "agents": "Support agents | employee_id>hr.employees, team:t=Tier 1/Tier 2/Escalations, language:t=English/German/Chinese",
        "ticket_messages": "Messages exchanged on tickets | ticket_id>tickets, sent_at:ts, from_customer:b, body:t",
        "satisfaction_surveys": "CSAT score after a ticket is solved | ticket_id>tickets, csat_score:i, answered_at:ts",
        "sla_policies": "Response and resolution time targets by priority | priority:t=low/medium/high/urgent, first_response_hours:i, resolution_hours:i",
        "knowledge_articles": "Help centre articles | title:t, views:i, helpful_votes:i",
        "warranty_claims": "Warranty claims for defective products | product_id>catalog.products, customer_id>crm.customers, claimed_on:d, status:t=accepted/rejected/pending",
    }),
    "retail": ("Physical stores", {
        "stores": "Retail stores | store_name:t=Berlin Mitte/Paris Opera/Shanghai Nanjing Road/Chicago Loop, city:t=Berlin/Paris/Shanghai/Chicago, region_id>regions, opened_on:d, floor_area_m2:n, manager_id>hr.employees",
        "regions": "Sales regions stores belong to | region_name:t=Central/East/West/South",
        "store_visits": "Footfall counted at store entrances | store_id>stores, visit_date:d, visitors:i",
        "pos_transactions": "Till receipts from the stores | store_id>stores, cashier_id>hr.employees, sold_at:ts, total:n, payment_type:t=cash/card/mobile",
        "pos_transaction_lines": "Products on each till receipt | pos_transaction_id>pos_transactions, product_id>catalog.products, quantity:i, price:n",
        "store_shifts": "Staff shifts in the stores | store_id>stores, employee_id>hr.employees, shift_date:d, hours:n",
        "planograms": "Shelf layouts of the stores | store_id>stores, aisle:t, category_id>catalog.categories",
    }),
    "manufacturing": ("Production", {
        "plants": "Factories | plant_name:t=Stuttgart Plant/Suzhou Plant/Monterrey Plant, country:t=Germany/China/Mexico",
        "production_lines": "Production lines inside plants | plant_id>plants, line_name:t, capacity_per_hour:i",
        "work_orders": "Production work orders | production_line_id>production_lines, product_id>catalog.products, planned_quantity:i, produced_quantity:i, started_at:ts, finished_at:ts",
        "bill_of_materials": "Components needed to build a product | product_id>catalog.products, component_id>components, quantity_per_unit:n",
        "components": "Parts and raw materials | component_name:t, unit_cost:n, supplier_id>procurement.suppliers",
        "quality_inspections": "Inspections of produced batches | work_order_id>work_orders, inspected_at:ts, defects_found:i, passed:b",
        "machine_downtime": "Stoppages of production machines | production_line_id>production_lines, started_at:ts, minutes:i, cause:t=breakdown/changeover/maintenance/no material",
        "maintenance_orders": "Planned and unplanned maintenance | production_line_id>production_lines, scheduled_on:d, cost:n, kind:t=planned/unplanned",
        "energy_readings": "Electricity used by plants | plant_id>plants, reading_date:d, kwh:n",
    }),
    "projects": ("Internal projects", {
        "projects": "Internal and customer projects | project_name:t, customer_id>crm.customers, starts_on:d, ends_on:d, budget:n, status:t=planned/active/done",
        "project_members": "Employees working on projects | project_id>projects, employee_id>hr.employees, role:t=lead/member",
        "milestones": "Project milestones and deadlines | project_id>projects, milestone_name:t, due_on:d, done:b",
        "tasks": "Tasks of projects | project_id>projects, assignee_id>hr.employees, title:t, estimate_hours:n, state:t=todo/doing/done",
        "project_costs": "Costs booked to projects | project_id>projects, cost_date:d, amount:n, cost_type:t=labour/material/travel",
    }),
    "facilities": ("Offices and buildings", {
        "offices": "Office buildings | office_name:t=Berlin HQ/Shanghai Office/Chicago Office, city:t=Berlin/Shanghai/Chicago, seats:i",
        "meeting_rooms": "Meeting rooms in offices | office_id>offices, room_name:t, capacity:i",
        "room_bookings": "Bookings of meeting rooms | meeting_room_id>meeting_rooms, employee_id>hr.employees, booked_from:ts, booked_to:ts",
        "leases": "Rental contracts of buildings | office_id>offices, monthly_rent:n, lease_end:d",
        "utility_bills": "Electricity, water and heating bills | office_id>offices, bill_month:d, utility:t=electricity/water/heating, amount:n",
        "it_assets": "Laptops, phones and screens handed out | employee_id>hr.employees, asset_type:t=laptop/phone/monitor, purchased_on:d, cost:n",
    }),
    "subscriptions": ("Recurring subscription plans", {
        "plans": "Subscription plans | plan_name:t=Basic/Plus/Premium, monthly_price:n, billing_period:t=monthly/yearly",
        "subscriptions": "Customers' subscriptions to plans | customer_id>crm.customers, plan_id>plans, started_on:d, cancelled_on:d, status:t=active/cancelled/paused",
        "subscription_invoices": "Recurring invoices of subscriptions | subscription_id>subscriptions, period_start:d, amount:n, paid:b",
        "churn_reasons": "Why customers cancelled | subscription_id>subscriptions, reason:t=too expensive/missing feature/moved to competitor",
        "usage_events": "Product usage metered for billing | subscription_id>subscriptions, event_date:d, units:i",
    }),
    "fleet": ("Company cars", {
        "company_cars": "Company cars and who drives them | employee_id>hr.employees, make:t=BMW/Volkswagen/Tesla/Toyota, registered_on:d",
        "fuel_cards": "Fuel cards of company cars | company_car_id>company_cars, card_number:t",
        "fuel_purchases": "Fuel bought with fuel cards | fuel_card_id>fuel_cards, purchased_at:ts, litres:n, amount:n",
        "car_damages": "Damage reports for company cars | company_car_id>company_cars, reported_on:d, repair_cost:n",
    }),
    "compliance": ("Audits and risk", {
        "audits": "Internal and external audits | audit_name:t, audit_type:t=internal/external, started_on:d, finding_count:i",
        "audit_findings": "Findings raised by audits | audit_id>audits, severity:t=low/medium/high, owner_id>hr.employees, resolved:b",
        "policies": "Company policies employees must follow | policy_name:t=Code of Conduct/Data Protection/Travel, version:t",
        "policy_acknowledgements": "Employees who signed policies | policy_id>policies, employee_id>hr.employees, signed_on:d",
        "incidents": "Security and safety incidents | incident_type:t=data breach/injury/fire/phishing, occurred_on:d, severity:t=low/medium/high, office_id>facilities.offices",
        "risks": "Risk register | risk_name:t, likelihood:i, impact:i, owner_id>hr.employees",
    }),
    "partners": ("Resellers and affiliates", {
        "resellers": "Resellers who sell our products | reseller_name:t=TechWorld/OfficePro/MegaMart, country:t=Germany/France/China/United States, tier:t=gold/silver",
        "reseller_orders": "Orders placed by resellers | reseller_id>resellers, ordered_on:d, amount:n",
        "affiliates": "Affiliate websites that refer customers | affiliate_name:t, commission_rate:n",
        "affiliate_clicks": "Clicks from affiliate links | affiliate_id>affiliates, clicked_at:ts, converted:b",
        "partner_payouts": "Commission paid to affiliates and resellers | affiliate_id>affiliates, paid_on:d, amount:n",
    }),
    "content": ("Product content and translations", {
        "translations": "Translated product texts | product_id>catalog.products, language:t=German/French/Chinese, title:t",
        "media_assets": "Videos and images used in marketing | asset_title:t, media_type:t=video/image, campaign_id>marketing.campaigns",
        "blog_posts": "Articles on the company blog | title:t, author_id>hr.employees, published_on:d, views:i",
        "newsletters": "Newsletter issues | issue_title:t, sent_on:d, recipients:i, open_rate:n",
    }),
}

DERIVED: dict[str, tuple[str, list[str]]] = {
    "history": ("Change history (slowly changing dimension) of", ["valid_from:ts", "valid_to:ts", "changed_by:t"]),
    "daily_snapshot": ("Daily snapshot of", ["snapshot_date:d"]),
    "staging": ("Raw staging copy, loaded nightly by ETL, of", ["loaded_at:ts", "batch_id:i"]),
    "archive": ("Archived rows older than five years of", ["archived_at:ts"]),
    "audit_log": ("Audit log of changes to", ["action:t", "changed_at:ts", "changed_by:t"]),
    "monthly_summary": ("Monthly aggregates of", ["summary_month:d", "row_count:i"]),
    "backup": ("Manual backup copy of", ["backup_taken_at:ts"]),
}


@dataclass
class Col:
    """A generated column."""

    name: str
    type: str
    comment: str
    ref: str | None = None
    declared: bool = True
    values: list[str] = field(default_factory=list)


@dataclass
class Tbl:
    """A generated table."""

    name: str
    comment: str
    columns: list[Col]
    core: bool = True


def _humanise(name: str) -> str:
    return name.replace("_", " ")


def core_tables() -> list[Tbl]:
    """The ~150 core tables, with keys resolved to full table names."""
    tables: list[Tbl] = []
    for domain, (about, entities) in DOMAINS.items():
        for entity, spec in entities.items():
            description, _, body = spec.partition(" | ")
            columns = [Col("id", "integer", f"Identifier of the {_humanise(entity).rstrip('s')}")]
            for item in (c.strip() for c in body.split(",")):
                if ">" in item:
                    col, _, target = item.partition(">")
                    declared = not target.startswith(">")
                    target = target.lstrip(">")
                    ref_domain, _, ref_entity = target.rpartition(".")
                    ref = f"{ref_domain or domain}_{ref_entity}"
                    columns.append(Col(col, "integer", f"The {_humanise(ref_entity).rstrip('s')} ({ref})", ref, declared))
                else:
                    col, _, typed = item.partition(":")
                    code, _, vocab = typed.partition("=")
                    values = vocab.split("/") if vocab else []
                    columns.append(Col(col, _TYPES[code], f"{_humanise(col).capitalize()} of the {_humanise(entity).rstrip('s')}", values=values))
            tables.append(Tbl(f"{domain}_{entity}", f"{about}: {description}", columns))
    return tables


def all_tables(total: int = 1000, seed: int = 13) -> list[Tbl]:
    """Core tables first, then derived tables (seeded choice of kinds per core table) up to ``total``."""
    core = core_tables()
    rng = random.Random(seed)
    derived: list[Tbl] = []
    kinds = list(DERIVED)
    rounds = [rng.sample(kinds, len(kinds)) for _ in core]
    for r in range(len(kinds)):
        for table, order in zip(core, rounds, strict=True):
            kind = order[r]
            prefix, extra = DERIVED[kind]
            cols = [Col(c.name, c.type, c.comment) for c in table.columns]
            for item in extra:
                name, _, code = item.partition(":")
                if any(c.name == name for c in cols):
                    continue
                cols.append(Col(name, _TYPES[code], _humanise(name).capitalize()))
            derived.append(Tbl(f"{table.name}_{kind}", f"{prefix} {table.name}: {table.comment.split(': ', 1)[-1]}", cols, core=False))
    return (core + derived)[:total] if total >= len(core) else core[:total]


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


ROWS = 12
"""Rows per core table (derived tables stay empty)."""


def _value(col: Col, row: int, rng: random.Random, table: str) -> object:
    if col.name == "id":
        return row
    if col.ref is not None:
        return rng.randint(1, ROWS)
    if col.values:
        return col.values[row % len(col.values)] if row <= len(col.values) else rng.choice(col.values)
    if col.type == "integer":
        return rng.randint(1, 500)
    if col.type.startswith("numeric"):
        return round(rng.uniform(5, 5000), 2)
    if col.type == "date":
        return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if col.type == "timestamp":
        return f"2024-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
    if col.type == "boolean":
        return rng.random() < 0.5
    return f"{_humanise(table.split('_', 1)[1]).rstrip('s').title()} {row}"


def ddl(tables: list[Tbl], seed: int = 13) -> str:
    """One SQL script: tables with primary keys, comments, declared foreign keys and rows."""
    rng = random.Random(seed)
    names = {t.name for t in tables}
    out: list[str] = []
    for t in tables:
        cols = ", ".join(f"{c.name} {c.type}{' PRIMARY KEY' if c.name == 'id' else ''}" for c in t.columns)
        out.append(f"CREATE TABLE {t.name} ({cols});")
        out.append(f"COMMENT ON TABLE {t.name} IS {_literal(t.comment)};")
        out.extend(f"COMMENT ON COLUMN {t.name}.{c.name} IS {_literal(c.comment)};" for c in t.columns)
    for t in tables:
        if not t.core:
            continue
        rows = [f"({', '.join(_literal(_value(c, r, rng, t.name)) for c in t.columns)})" for r in range(1, ROWS + 1)]
        out.append(f"INSERT INTO {t.name} VALUES {', '.join(rows)};")
    for t in tables:
        for c in t.columns:
            if c.ref and c.declared and c.ref in names:
                out.append(f"ALTER TABLE {t.name} ADD FOREIGN KEY ({c.name}) REFERENCES {c.ref}(id);")
    out.append("ANALYZE;")
    return "\n".join(out)


def build(database: str, *, tables: int = 1000, admin_dsn: str = ADMIN_DSN) -> str:
    """Drop and recreate ``database`` with ``tables`` generated tables; returns its URL."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
    url = admin_dsn.rsplit("/", 1)[0] + "/" + database
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ddl(all_tables(tables)).encode())
    return url


def drop(database: str, *, admin_dsn: str = ADMIN_DSN) -> None:
    """Drop a database built by :func:`build`."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def build_duckdb(path: Path, *, tables: int = 300) -> Path:
    """The same warehouse in a DuckDB file (for fast tests): keys declared inline where DuckDB allows it.

    DuckDB wants a referenced table to exist first and no self-references, so tables are created in
    dependency order and a key that would close a cycle is left undeclared (introspection infers none of
    these: the names differ, which is realistic).
    """
    import duckdb

    chosen = all_tables(tables)
    by_name = {t.name: t for t in chosen}
    ordered: list[Tbl] = []
    state: dict[str, int] = {}

    def visit(t: Tbl) -> None:
        if state.get(t.name):
            return
        state[t.name] = 1
        for c in t.columns:
            if c.ref and c.declared and c.ref in by_name and c.ref != t.name and not state.get(c.ref):
                visit(by_name[c.ref])
        state[t.name] = 2
        ordered.append(t)

    for t in chosen:
        visit(t)
    rng = random.Random(13)
    created: set[str] = set()
    path.unlink(missing_ok=True)
    script: list[str] = []
    for t in ordered:
        cols = [f"{c.name} {c.type}{' PRIMARY KEY' if c.name == 'id' else ''}" for c in t.columns]
        cols += [
            f"FOREIGN KEY ({c.name}) REFERENCES {c.ref}(id)"
            for c in t.columns
            if c.ref and c.declared and c.ref in created and c.ref != t.name
        ]
        script.append(f"CREATE TABLE {t.name} ({', '.join(cols)});")
        script.append(f"COMMENT ON TABLE {t.name} IS {_literal(t.comment)};")
        script.extend(f"COMMENT ON COLUMN {t.name}.{c.name} IS {_literal(c.comment)};" for c in t.columns)
        if t.core:
            rows = [f"({', '.join(_literal(_value(c, r, rng, t.name)) for c in t.columns)})" for r in range(1, ROWS + 1)]
            script.append(f"INSERT INTO {t.name} VALUES {', '.join(rows)};")
        created.add(t.name)
    with duckdb.connect(str(path)) as conn:
        conn.execute("BEGIN;" + "\n".join(script) + "COMMIT;")
    return path


def main() -> None:
    """Build the generated warehouse and print its URL."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--suffix", default="bench")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    args = parser.parse_args()
    started = time.perf_counter()
    url = build(f"sqlbot_large_{args.suffix}", tables=args.tables, admin_dsn=args.admin_dsn)
    print(f"{url} ({args.tables} tables, {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
