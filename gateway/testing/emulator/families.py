"""How each emulated modem model answers: data, not branches."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """How one modem model answers: data, not branches. The recorded ones carry the answers of real
    modems as python-gsmmodem-new 0.13.0's test/fakemodems.py holds them (facts only, our code)."""

    name: str
    manufacturer: str
    model: str
    has_clac: bool = False
    reports: str = "cdsi"  # "cdsi": stored, announced by index; "cds": the PDU inline
    packed_ussd: bool = False  # Huawei: the USSD string is packed GSM-7 in hex
    unknown: str = "ERROR"  # what an unknown command gets (Huawei E1752: COMMAND NOT SUPPORT)
    curc: bool = False  # knows AT^CURC (Huawei)
    # the answer to AT+CPMS=? as recorded, or None: the modem has no AT+CPMS at all
    cpms_test: str | None = '+CPMS: ("SM","ME","SR"),("SM","ME"),("SM","ME")'
    memories: tuple[tuple[str, int], ...] = (("SM", 30), ("ME", 100), ("SR", 30))
    store_in: str = "SM"  # where a new SMS goes (survives power cycles on many sticks: may be ME)
    cpms_max_args: int = 3  # Wavecom refuses the three-memory form
    cnmi_refused: tuple[str, ...] = ()  # CNMI argument prefixes it answers ERROR to
    can_receive: bool = True  # Nokia phones: no AT+CNMI, AT+CMGL or AT+CMGR for SMS
    cpin_ok: bool = True  # Wavecom answers AT+CPIN? without OK
    busy_at_start: int = 0  # +CME ERROR: 515 to the first commands after it opens (Wavecom)
    sim_busy: tuple[str, ...] = ()  # commands answered +CME ERROR: 14 once (Qualcomm: AT+CSCA?)
    esc_error: bool = False  # answers ERROR to a lone ESC or an empty line
    ussd_mode: bool = False  # Huawei E1752: AT+CUSD refused until AT^USSDMODE=0 (text USSD)
    full_urc: str | None = None  # what it says when its SMS memory fills up
    answers_ussd: bool = True
    revision: str = "11.609.18.00.00"  # AT+CGMR
    # ---- LTE modules ----
    lte: bool = False  # answers AT+CEREG (EPS registration) and camps on E-UTRAN (+COPS AcT 7)
    csq: str = "+CSQ: 21,99"  # what AT+CSQ says (99 on LTE on some sticks)
    lte_signal: tuple[str, str] = ("", "")  # (command, answer) giving RSRP/RSRQ: +CESQ, +QCSQ, ^HCSQ
    # what it says once SMS is usable after a start; before that, SMS commands get `not_ready`
    sms_done: tuple[str, ...] = ()
    not_ready: str = "+CMS ERROR: 500"
    cnma: bool = False  # AT+CSMS=1 accepted: +CDS routed to the port, acknowledged with AT+CNMA
    voice: bool = True  # RING / +CLIP for calls (a data-only stick lets the network refuse them)
    at_port: str = "ttyUSB0"  # the AT port on Linux (the other USB ports: diagnostics, GPS, PPP)
    usb_id: str = ""  # vendor:product in AT mode
    cmgs_max: float = 60.0  # the documented longest wait for a +CMGS answer (seconds)
    # what it says when it starts again by itself (a brown-out on the Pi's USB): SIM800's boot lines
    # from its manual; () for a stick that says nothing, whose restart shows only as its echo back on
    boot: tuple[str, ...] = ()


_QUECTEL_MEMORIES = '+CPMS: ("SM","ME","MT"),("SM","ME","MT"),("SM","ME","MT")'
# The LTE modules a commune can buy in 2026. Read for them: a recorded Quectel EG25-G (ATI answering
# "Quectel / EG25 / Revision: EG25GGBR07A08M2G", github.com/lukejenkins/cwd,
# documentation/quectel_ec2x_and_eg2x/outputs.md) and the SIMCom SIM7500/SIM7600 Series AT Command
# Manual V2.00 (its contents: ATH, AT+CPIN, AT+CSMS/AT+CNMA, AT+CESQ). The rest follows TS 27.005/27.007
# and what these vendors' manuals are known to say, not yet checked against a recorded session: the
# +QIND: SMS DONE / SMS DONE / PB DONE lines at start, +QCSQ and ^HCSQ as ModemManager reads them, the
# +CMGS time (120 s), the AT port (USB interface 2 on EC25 and SIM7600, 0 on an E3372h in stick mode),
# +CSQ 99 on LTE and no voice on the E3372h. The networks answer as Vietnam's LTE-only ones do:
# +CREG: 0,0 while +CEREG: 0,1 (set per emulator with `creg` / `cereg`). The not-ready answer before
# SMS DONE varies by firmware (+CMS ERROR: 302 or 500); Loa treats both alike.
LTE = (
    Family(
        "ec25",
        "Quectel",
        "EC25",
        lte=True,
        cpms_test=_QUECTEL_MEMORIES,
        memories=(("SM", 50), ("ME", 255), ("MT", 305)),
        reports="cds",
        lte_signal=("AT+QCSQ", '+QCSQ: "LTE",-65,-95,150,-10'),
        sms_done=("+QIND: SMS DONE", "+QIND: PB DONE"),
        boot=("RDY", "+CFUN: 1", "+CPIN: READY", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
        not_ready="+CMS ERROR: 500",
        cnma=True,
        at_port="ttyUSB2",
        usb_id="2c7c:0125",
        cmgs_max=120.0,
        revision="EC25EFAR06A06M4G",
        full_urc='+QIND: "smsfull","SM"',
    ),
    Family(
        "sim7600",
        "SIMCOM INCORPORATED",
        "SIMCOM_SIM7600E-H",
        lte=True,
        cpms_test='+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM","SR"),("ME","MT","SM","SR")',
        memories=(("SM", 50), ("ME", 23), ("SR", 30)),
        lte_signal=("AT+CESQ", "+CESQ: 99,99,255,255,26,48"),
        sms_done=("SMS DONE", "PB DONE"),
        boot=("RDY", "+CPIN: READY", "SMS DONE", "PB DONE"),
        not_ready="+CMS ERROR: 302",
        cnma=True,
        at_port="ttyUSB2",
        usb_id="1e0e:9001",
        cmgs_max=120.0,
        revision="LE20B04SIM7600M22",
    ),
    Family(
        "e3372h",
        "huawei",
        "E3372",
        lte=True,
        has_clac=True,
        packed_ussd=True,
        curc=True,
        csq="+CSQ: 99,99",
        lte_signal=("AT^HCSQ?", '^HCSQ: "LTE",55,42,161,25'),
        voice=False,
        answers_ussd=False,
        full_urc='^SMMEMFULL: "SM"',
        at_port="ttyUSB0",
        usb_id="12d1:1506",
        revision="22.200.15.00.00",
    ),
)
_ALL_MEMORIES = '+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM","SR"),("ME","MT","SM","SR")'
FAMILIES = {
    f.name: f
    for f in (
        Family("huawei", "huawei", "E3531", has_clac=True, packed_ussd=True, unknown="COMMAND NOT SUPPORT",
               curc=True, full_urc='^SMMEMFULL: "SM"'),
        Family("sim800", "SIMCOM_Ltd", "SIMCOM_SIM800L", reports="cds", cnmi_refused=("2,1,0,2",),
               esc_error=True, full_urc='+CIEV: "SMSFULL",1',
               boot=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready")),
        # recorded: Wavecom Multiband 900E 1800 (CPIN? without OK; two memories; 515 twice at start)
        Family("wavecom", " WAVECOM MODEM", " MULTIBAND  900E  1800",
               cpms_test='+CPMS: (("SM","BM","SR"),("SM"))', memories=(("SM", 50), ("SR", 20)), cpms_max_args=2,
               cpin_ok=False, busy_at_start=2),
        # recorded: Huawei K3715 (all four memories); this one was used elsewhere and stores in ME
        Family("k3715", "huawei", "K3715", has_clac=True, packed_ussd=True, curc=True, cpms_test=_ALL_MEMORIES,
               memories=(("ME", 100), ("SM", 30), ("SR", 30)), store_in="ME", full_urc='^SMMEMFULL: "ME"'),
        # recorded: Huawei E1752 ("COMMAND NOT SUPPORT"; USSD only after AT^USSDMODE=0)
        Family("e1752", "huawei", "E1752", has_clac=True, unknown="COMMAND NOT SUPPORT", curc=True,
               cpms_test=_ALL_MEMORIES, memories=(("ME", 100), ("SM", 30), ("SR", 30)), ussd_mode=True),
        # recorded: Qualcomm M6280, a ZTE stick (SIM busy once on AT+CSCA?)
        Family("m6280", "QUALCOMM INCORPORATED", "M6280", cpms_test=_ALL_MEMORIES,
               memories=(("ME", 100), ("SM", 30), ("SR", 30)), sim_busy=("AT+CSCA?",)),
        # recorded: ZTE K3565-Z (Vodafone)
        Family("k3565z", "ZTE INCORPORATED", "K3565-Z", cpms_test=_ALL_MEMORIES,
               memories=(("ME", 100), ("SM", 30), ("SR", 30)), esc_error=True),
        # recorded: Nokia N79, a phone: sends SMS, cannot hand received SMS over AT (no CPMS, no CNMI)
        Family("n79", "Nokia", "Nokia N79", cpms_test="+CPMS: (),(),()", memories=(), can_receive=False,
               answers_ussd=False),
        *LTE,
    )
}  # fmt: skip
