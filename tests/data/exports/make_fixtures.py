#!/usr/bin/env python3
"""Writes the export fixtures of tests/data/exports (committed; run again
after changing this script). Python's standard library only: the GBK file
through its codec, the XLSX as the zip of XML parts a spreadsheet writes
(inline strings, a date style on the time column, numbers as numbers)."""
import os
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


# A Chinese marketplace's order export (Tmall-like), GBK-encoded, Chinese
# headers, with a column the profile does not use and its own order.
TMALL_HEADER = ["订单编号", "买家会员名", "店铺名称", "订单状态", "宝贝标题", "订单类型", "买家实际支付金额", "订单创建时间"]
TMALL_ROWS = [
    ["TM20240115001", "王小明", "Tmall Flagship", "交易成功", "保温杯 500ml", "样品", "￥1,288.00", "2024-01-15 10:23:45"],
    ["TM20240115002", "李雷", "Tmall Flagship", "paid", "茶具套装", "批发", "88.5", "2024-01-15 11:00:00"],
    ["TM20240115003", "\u3000韩梅梅\u3000", "Tmall Flagship", "paid", "紫砂壶", "", "￥20,000", "2024-01-16"],
    ["TM20240115004", "王小明", "Tmall Flagship", "cancelled", "保温杯 500ml", "样品", "12.345", "2024-01-16 09:00:00"],
    ["TM20240115005", "", "Tmall Flagship", "paid", "茶叶", "批发", "30", "2024-01-17 08:00:00"],
    ["TM20240115006", "赵六", "Tmall Flagship", "paid", "茶叶", "批发", "三十元", "2024-01-17 08:30:00"],
]


def csv_line(cells, sep=","):
    out = []
    for c in cells:
        if any(ch in c for ch in [sep, '"', "\n", "\r"]):
            c = '"' + c.replace('"', '""') + '"'
        out.append(c)
    return sep.join(out) + "\r\n"


tmall = "".join(csv_line(r) for r in [TMALL_HEADER] + TMALL_ROWS)
write("tmall_orders_gbk.csv", tmall.encode("gbk"))
# The same export lacking its shop-name column: the profile's error names it.
write("tmall_orders_no_shop_gbk.csv",
      "".join(csv_line([c for i, c in enumerate(r) if i != 2]) for r in [TMALL_HEADER] + TMALL_ROWS).encode("gbk"))

# Shopify's order export: one row per line item; the order's totals,
# financial status and creation time on its first row only; no shop column.
SHOPIFY_HEADER = ["Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Currency", "Subtotal",
                  "Shipping", "Taxes", "Total", "Discount Code", "Created at", "Lineitem quantity", "Lineitem name",
                  "Lineitem price", "Billing Name", "Billing City", "Billing Country", "Vendor", "Id"]
SHOPIFY_ROWS = [
    ["#1001", "ann.lee@example.com", "paid", "2024-01-15 10:24:02 -0500", "fulfilled", "USD", "54.00", "5.00",
     "4.32", "63.32", "", "2024-01-15 10:23:45 -0500", "2", "Ceramic Mug - Blue", "12.00", "Ann Lee", "Boston",
     "US", "Acme", "5531045003441"],
    ["#1001", "ann.lee@example.com", "", "", "", "", "", "", "", "", "", "", "1", "Tea Sampler", "30.00", "", "",
     "", "Acme", "5531045003441"],
    ["#1002", "bob@example.com", "pending", "", "unfulfilled", "USD", "19.99", "0.00", "0.00", "19.99", "WELCOME",
     "2024-01-16 08:00:00 +0000", "1", "Tea Towel, Linen", "19.99", "", "", "", "Acme", "5531045003442"],
    ["#1003", "carol@example.com", "refunded", "2024-01-16 12:00:00 +0100", "fulfilled", "USD", "100.00", "0.00",
     "0.00", "USD 1,100.00", "", "2024-01-16 11:59:59 +0100", "1", "Teapot \"Grand\"", "1100.00", "Carol O'Neil",
     "Dublin", "IE", "Acme", "5531045003443"],
    ["#1003", "carol@example.com", "", "", "", "", "", "", "", "", "", "", "2", "Saucer", "0.00", "", "", "",
     "Acme", "5531045003443"],
    ["#1003", "carol@example.com", "", "", "", "", "", "", "", "", "", "", "1", "Gift wrap", "0.00", "", "", "",
     "Acme", "5531045003443"],
    ["#1004", "dan@example.com", "paid", "", "", "USD", "10.00", "0.00", "0.00", "10.00", "",
     "16/01/2024 13:00", "1", "Spoon", "10.00", "Dan Wu", "Austin", "US", "Acme", "5531045003444"],
]
write("shopify_orders_export.csv", "".join(csv_line(r) for r in [SHOPIFY_HEADER] + SHOPIFY_ROWS).encode("utf-8"))

# The generic profile's headers, UTF-8 with a BOM, a quoted field with a
# newline and one with commas; columns in another order than raw_orders'.
GENERIC_HEADER = ["ordered_at", "order_id", "shop", "customer_name", "order_status", "order_type", "amount"]
GENERIC_ROWS = [
    ["2024-02-01 09:00:00", "G-1", "JD Outlet", "Li Lei\nBeijing office", "paid", "批发", "1,234.50"],
    ["2024-02-01T10:00:00+08:00", "G-2", "JD Outlet", "O'Brien, Pat", "shipped", "样品", "99"],
    ["2024-02-02", "G-3", "JD Outlet", "小红", "PAID", "", "0.10"],
]
write("generic_bom_quoted.csv",
      b"\xef\xbb\xbf" + "".join(csv_line(r) for r in [GENERIC_HEADER] + GENERIC_ROWS).encode("utf-8"))


# An XLSX export: the first sheet, date cells (a date style on a serial
# number), amounts as numbers, an order id as a number, a second sheet the
# loader must not read.
def col(i):
    return chr(ord("A") + i)


def cell(ref, value, date=False):
    if isinstance(value, str):
        esc = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{esc}</t></is></c>'
    style = ' s="1"' if date else ""
    return f'<c r="{ref}"{style}><v>{value!r}</v></c>'


def sheet(rows, date_col=None):
    out = []
    for r, values in enumerate(rows, start=1):
        cells = "".join(cell(f"{col(i)}{r}", v, date=(r > 1 and i == date_col and not isinstance(v, str)))
                        for i, v in enumerate(values) if v is not None)
        out.append(f'<row r="{r}">{cells}</row>')
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f'<sheetData>{"".join(out)}</sheetData></worksheet>')


XLSX_HEADER = ["订单号", "店铺", "客户", "状态", "类型", "金额", "下单时间"]
XLSX_ROWS = [
    [880001, "JD Outlet", "钱七", "paid", "样品", 1288.5, 45306.43315972222],  # 2024-01-15 10:23:45
    ["880002", "JD Outlet", "孙八", "paid", "批发", 99, 45307.0],  # 2024-01-16 00:00:00
    ["880003", "JD Outlet", "周九", "paid", None, "88.80", "2024-01-17 12:00:00"],  # a time written as text
    [],  # an empty row
    ["880004", "JD Outlet", "吴十", "paid", "批发", 5, "昨天"],  # not a time: kept, rejected
]
files = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/worksheets/sheet2.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '</Types>'),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        '</Relationships>'),
    "xl/workbook.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="订单" sheetId="1" r:id="rId1"/><sheet name="说明" sheetId="2" r:id="rId2"/></sheets>'
        '</workbook>'),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet2.xml"/>'
        '<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        '</Relationships>'),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="2"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="22" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        '</styleSheet>'),
    "xl/worksheets/sheet1.xml": sheet([XLSX_HEADER] + XLSX_ROWS, date_col=6),
    "xl/worksheets/sheet2.xml": sheet([["not", "the", "orders"], ["x", "y", "z"]]),
}
with zipfile.ZipFile(os.path.join(HERE, "jd_orders.xlsx"), "w", zipfile.ZIP_DEFLATED) as z:
    for name, text in files.items():
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 15, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text.encode("utf-8"))
