#!/usr/bin/env python3
"""Writes a hostile XLSX to stdout as hex (review attacks on etl_import_export).

hostile_xlsx.py KIND [N]
  bigcol    a header row, then a cell whose reference names column N (letters)
  backrow   the header on row 5, then a data row numbered 2 (out of order)
  overflow  a cell reference whose row number overflows u32
  emptygrid N  N rows of 16,000 empty cells each (long to read, and no line)
  bomb      N megabytes of shared strings in a small zip (a decompression bomb)
  streamed  a good workbook (a header and one line) zipped as a stream writes it:
            sizes in data descriptors (Java's ZipOutputStream, Apache POI's SXSSF)
  streamedbomb  bomb N, zipped as a stream
  sstcount  a shared strings part that announces N unique strings (and has one)
  liar      N megabytes of shared strings whose central directory entry says 1000 bytes
"""
import io
import sys
import zipfile

HEAD = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>')
TAIL = '</sheetData></worksheet>'
HEADERS = ["order_id", "shop", "customer_name", "amount", "ordered_at"]


def c(ref, text):
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def header(r=1):
    return f'<row r="{r}">' + "".join(c(f"{chr(65 + i)}{r}", h) for i, h in enumerate(HEADERS)) + '</row>'


def data(r):
    vals = [f"O{r}", "S1", "alice", "10.00", "2026-01-01 10:00:00"]
    return f'<row r="{r}">' + "".join(c(f"{chr(65 + i)}{r}", v) for i, v in enumerate(vals)) + '</row>'


class Unseekable(io.RawIOBase):
    """A stream zipfile cannot seek back in: it writes data descriptors."""

    def __init__(self):
        self.out = io.BytesIO()

    def writable(self):
        return True

    def write(self, b):
        return self.out.write(b)

    def seekable(self):
        return False

    def tell(self):
        raise OSError("unseekable")


STREAMED = False
LIAR = False


def workbook(sheet_xml, shared=None, sheet_parts=None):
    files = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        + ('<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>' if shared else '')
        + '</Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
        + ('<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>' if shared else '')
        + '</Relationships>',
    }
    out = Unseekable() if STREAMED else io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, text in files.items():
            z.writestr(name, text)
        if sheet_parts:
            with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
                for part in sheet_parts():
                    f.write(part)
        else:
            z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        if shared:
            with z.open("xl/sharedStrings.xml", "w", force_zip64=(not LIAR)) as f:
                for part in shared():
                    f.write(part)
    return (out.out if STREAMED else out).getvalue()


def col_letters(n):  # 1-based column number -> letters
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


kind = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 0
if kind.startswith("streamed"):
    STREAMED = True
    kind = kind[len("streamed"):] or "good"
if kind == "bigcol":
    xml = HEAD + header() + data(2)[:-6] + c(f"{col_letters(n)}2", "x") + '</row>' + TAIL
elif kind == "good":
    xml = HEAD + header() + data(2) + TAIL
elif kind == "backrow":
    xml = HEAD + header(5) + data(2) + TAIL
elif kind == "overflow":
    xml = HEAD + header() + '<row r="2">' + c("A99999999999", "x") + '</row>' + TAIL
elif kind == "emptygrid":
    def parts():
        yield (HEAD + header()).encode()
        row = b'<row>' + b'<c/>' * 16000 + b'</row>'
        for _ in range(n):
            yield row
        yield TAIL.encode()
    sys.stdout.write(workbook(None, sheet_parts=parts).hex())
    sys.exit(0)
elif kind == "sstcount":
    def shared():
        yield (f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
               f'count="{n}" uniqueCount="{n}"><si><t>x</t></si></sst>').encode()
    xml = HEAD + header() + data(2) + TAIL
    sys.stdout.write(workbook(xml, shared).hex())
    sys.exit(0)
elif kind == "liar":
    LIAR = True
    def shared():
        yield b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        yield b'<si><t>' + b'A' * (n << 20) + b'</t></si></sst>'
    raw = bytearray(workbook(HEAD + header() + data(2) + TAIL, shared))
    name = b"xl/sharedStrings.xml"
    at = raw.find(b"PK\x01\x02")
    while at >= 0:  # central directory entries: uncompressed size at +24, name at +46
        name_len = int.from_bytes(raw[at + 28:at + 30], "little")
        if raw[at + 46:at + 46 + name_len] == name:
            raw[at + 24:at + 28] = (1000).to_bytes(4, "little")
        at = raw.find(b"PK\x01\x02", at + 4)
    sys.stdout.write(bytes(raw).hex())
    sys.exit(0)
elif kind == "bomb":
    def shared():
        yield b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        chunk = b'<si><t>' + b'A' * (1 << 20) + b'</t></si>'
        for _ in range(n):
            yield chunk
        yield b'</sst>'
    xml = HEAD + header() + data(2) + TAIL
    sys.stdout.write(workbook(xml, shared).hex())
    sys.exit(0)
else:
    sys.exit(f"unknown kind {kind}")
sys.stdout.write(workbook(xml).hex())
