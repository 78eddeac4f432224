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


_ALL_MEMORIES = '+CPMS: ("ME","MT","SM","SR"),("ME","MT","SM","SR"),("ME","MT","SM","SR")'
FAMILIES = {
    f.name: f
    for f in (
        Family("huawei", "huawei", "E3531", has_clac=True, packed_ussd=True, unknown="COMMAND NOT SUPPORT",
               curc=True, full_urc='^SMMEMFULL: "SM"'),
        Family("sim800", "SIMCOM_Ltd", "SIMCOM_SIM800L", reports="cds", cnmi_refused=("2,1,0,2",),
               esc_error=True, full_urc='+CIEV: "SMSFULL",1'),
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
    )
}  # fmt: skip
