"""Values of the ZTF 4.02 alert fields, computed column-wise from simulated detection rows.

Each value is a pure function of the object (hid), the exposure (vid) or the reference image (field,
fid), so a detection carries the same numbers as a night's candidate and, later, as a prv_candidate.
Ranges and sentinels (-999, the string 'null' in ssnamenr) follow real ZTF alerts of 2023.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from siskin.simulate._random import normal, uniform
from siskin.simulate.population import ORBIT_BASE, ZP, Kind, Table
from siskin.simulate.schedule import CCD_PIXELS, night_of

F64 = npt.NDArray[np.float64]
Columns = dict[str, object]  # numpy arrays or lists, one value per row

RB_VERSION, DRB_VERSION = "t17_f5_c3", "d6_m7"
_BAND = np.array(["", "g", "r", "i"])
_PI = np.array(["Kulkarni", "Prince"])


def nid_of(vid: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The night id of an exposure id."""
    return vid // 10_000


def pid_of(rows: Table) -> npt.NDArray[np.int64]:
    """ZTF processing id of the (exposure, readout channel) image a row lies in."""
    nid = nid_of(rows["vid"])
    frac5 = np.floor((rows["jd"] - (2457754.5 + nid)) * 1e5).astype(np.int64)
    return nid * 1_000_000_000 + frac5 * 10_000 + rows["rcid"] * 100 + 15


def diff_filenames(rows: Table, *, archive: bool) -> list[str]:
    """`pdiffimfilename`: bare in candidates, an archive path in prv_candidates (as ZTF does)."""
    nid = nid_of(rows["vid"])
    frac6 = np.floor((rows["jd"] - (2457754.5 + nid)) * 1e6).astype(np.int64).tolist()
    ccd = (rows["rcid"] // 4 + 1).tolist()
    quad = (rows["rcid"] % 4 + 1).tolist()
    band = _BAND[rows["fid"]].tolist()
    days = {n: night_of(n) for n in np.unique(nid).tolist()}
    prefix = {
        n: (f"/ztf/archive/sci/{d // 10000}/{d % 10000:04d}/" if archive else "", f"ztf_{d}")
        for n, d in days.items()
    }
    suffix = ".fz" if archive else ""
    out = []
    for n, f, fld, b, c, q in zip(nid.tolist(), frac6, rows["field"].tolist(), band, ccd, quad, strict=True):
        folder, stem = prefix[n]
        folder = f"{folder}{f:06d}/" if archive else ""
        out.append(f"{folder}{stem}{f:06d}_{fld:06d}_z{b}_c{c:02d}_o_q{q}_scimrefdiffimg.fits{suffix}")
    return out


def calibration(seed: int, rows: Table) -> Columns:
    """Per-exposure photometric calibration, shared by every row of the same image."""
    vid, fid = rows["vid"], rows["fid"]

    def v(s: int) -> F64:
        return uniform(seed, 800 + s, vid, rows["rcid"])

    return {
        "magzpsci": rows["magzpsci"],
        "magzpsciunc": 1e-6 + 9e-6 * v(1),
        "magzpscirms": 0.016 + 0.05 * v(2),
        "clrcoeff": np.where(fid == 1, -0.06, np.where(fid == 2, 0.09, -0.02)) + 0.03 * (v(3) - 0.5),
        "clrcounc": 1e-6 + 1e-5 * v(4),
    }


def upper_limit_fields(seed: int, rows: Table) -> Columns:
    """prv_candidate values of a non-detection: only the exposure is described, all else null."""
    n = len(rows["vid"])
    return {
        "jd": rows["jd"],
        "fid": rows["fid"],
        "pid": pid_of(rows),
        "diffmaglim": rows["diffmaglim"],
        "pdiffimfilename": diff_filenames(rows, archive=True),
        "programpi": _PI[rows["programpi"]].tolist(),
        "programid": np.ones(n, dtype=np.int64),
        "nid": nid_of(rows["vid"]),
        "rcid": rows["rcid"],
        "field": rows["field"],
        "rbversion": [RB_VERSION] * n,
        **calibration(seed, rows),
    }


def detection_fields(seed: int, rows: Table) -> Columns:
    """Values shared by a detection's candidate and prv_candidate records."""
    hid, vid = rows["hid"], rows["vid"]
    bogus = rows["kind"] == int(Kind.BOGUS)

    def r(s: int) -> F64:
        return uniform(seed, 500 + s, hid, vid)

    def g(s: int) -> F64:
        return normal(seed, 600 + s, hid, vid)

    def o(s: int) -> F64:
        return uniform(seed, 700 + s, hid)

    absflux = np.abs(rows["flux"])
    magpsf = ZP - 2.5 * np.log10(absflux)
    sigmapsf = np.hypot(1.0857 * rows["sigflux"] / absflux, 0.01)  # 1% calibration floor
    snr = absflux / rows["sigflux"]
    fwhm = np.where(bogus, rows["seeing"] * (0.4 + 1.4 * r(1)), rows["seeing"] * (1.0 + 0.08 * g(1)))
    elong = 1.0 + np.where(bogus, 1.2, 0.12) * np.abs(g(2))
    aimage = np.where(bogus, 0.5 + 1.5 * r(3), 0.45 + 0.35 * r(3) * fwhm / 2.2)
    magap = magpsf + 0.02 + 0.06 * g(4)
    sigmagap = sigmapsf * (0.9 + 0.3 * r(5))
    band_shift = np.choose(rows["fid"] - 1, [0.45, 0.0, -0.25])
    magnr = rows["magnr"] + band_shift
    theta = 2.0 * np.pi * o(1)
    dist = rows["distnr"] * (1.0 + 0.05 * g(6))
    cosd = np.maximum(np.cos(np.radians(rows["dec"])), 1e-3)
    jitter = 0.06 / 3600.0
    ra = rows["ra"] + jitter * g(7) / cosd
    dec = rows["dec"] + jitter * g(8)
    x, y = rows["xpos"], rows["ypos"]
    ast = rows["kind"] == int(Kind.ASTEROID)
    rb = np.where(bogus, 0.03 + 0.4 * r(9), 0.985 - 0.45 * r(9) ** 1.5 - 0.12 * (snr < 8))
    nbad = np.where(bogus & (r(10) < 0.3), 1 + (4 * r(11)).astype(np.int64), (r(10) < 0.02).astype(np.int64))
    return {
        "jd": rows["jd"],
        "fid": rows["fid"],
        "pid": rows["pid"],
        "diffmaglim": rows["diffmaglim"],
        "programpi": _PI[rows["programpi"]].tolist(),
        "programid": np.ones(len(hid), dtype=np.int64),
        "candid": rows["candid"],
        "isdiffpos": np.where(rows["flux"] > 0, "t", "f").tolist(),
        "tblid": rows["tblid"],
        "nid": nid_of(vid),
        "rcid": rows["rcid"],
        "field": rows["field"],
        "xpos": x,
        "ypos": y,
        "ra": ra,
        "dec": dec,
        "magpsf": magpsf,
        "sigmapsf": sigmapsf,
        "chipsf": np.exp(np.log(2.5) + 0.8 * g(12)) * np.where(bogus, 3.0, 1.0),
        "magap": magap,
        "sigmagap": sigmagap,
        "distnr": dist,
        "magnr": magnr,
        "sigmagnr": np.clip(0.01 + 0.03 * 10 ** (0.4 * (magnr - 20.0)), 0.01, 0.4),
        "chinr": np.exp(0.7 * normal(seed, 701, hid)) * np.where(rows["sgscore"] < 0.5, 3.0, 1.0),
        "sharpnr": 0.15 * normal(seed, 702, hid) + np.where(rows["sgscore"] < 0.5, 0.3, 0.0),
        "sky": 0.8 * g(13),
        "magdiff": magap - magpsf,
        "fwhm": fwhm,
        "classtar": np.clip(0.45 + 0.55 * rows["sgscore"] + 0.05 * g(14), 0.0, 1.0),
        "mindtoedge": np.minimum(np.minimum(x, y), np.minimum(CCD_PIXELS[0] - x, CCD_PIXELS[1] - y)),
        "magfromlim": rows["diffmaglim"] - magap,
        "seeratio": np.clip(np.exp(0.1 + 0.3 * g(15)), 0.5, 2.0),
        "aimage": aimage,
        "bimage": aimage / elong,
        "aimagerat": aimage / fwhm,
        "bimagerat": aimage / elong / fwhm,
        "elong": elong,
        "nneg": (r(16) * np.where(bogus, 25, 12)).astype(np.int64),
        "nbad": nbad,
        "rb": rb,
        "ssdistnr": np.where(ast, 0.05 + 1.5 * r(17) ** 2, -999.0),
        "ssmagnr": np.where(ast, np.round(rows["m0"] + 0.2 * g(18), 1), -999.0),
        "ssnamenr": [
            str(1000 + (h - ORBIT_BASE) * 7919 % 600_000) if a else "null"
            for h, a in zip(hid.tolist(), ast.tolist(), strict=True)
        ],
        "sumrat": np.where(bogus, 0.4 + 0.5 * r(19), 1.0 - 0.15 * r(19) ** 4),
        "magapbig": magap + 0.03 * g(20),
        "sigmagapbig": sigmagap * 1.1,
        "ranr": rows["ra"] + dist / 3600.0 * np.cos(theta) / cosd,
        "decnr": rows["dec"] + dist / 3600.0 * np.sin(theta),
        "scorr": np.maximum(snr * (1.0 + 0.1 * g(21)), 5.0),
        "rbversion": [RB_VERSION] * len(hid),
        "drb": np.where(bogus, 0.4 * r(22) ** 2, 1.0 - 0.35 * r(22) ** 4),
        **calibration(seed, rows),
    }


def candidate_extras(seed: int, rows: Table) -> Columns:
    """Candidate-only values: reference image, PS1 and Gaia neighbours, image statistics."""
    hid, field, fid = rows["hid"], rows["field"], rows["fid"]
    n = len(hid)

    def o(s: int) -> F64:
        return uniform(seed, 720 + s, hid)

    def ref(s: int) -> F64:
        return uniform(seed, 900 + s, field, fid, rows["rcid"])

    def v(s: int) -> F64:
        return uniform(seed, 820 + s, rows["vid"], rows["rcid"])

    star = rows["sgscore"] > 0.5
    ps1 = o(1) > 0.05
    r1 = rows["magnr"] + 0.05 * normal(seed, 721, hid)
    dec_ps = rows["dec"]
    objid = (
        np.floor((dec_ps + 90.0) / 0.0083333).astype(np.int64) * 10**13
        + np.floor(rows["ra"] * 1e6).astype(np.int64) * 10**4
        + (o(2) * 9999).astype(np.int64)
    )
    out: Columns = {
        "objectidps1": np.where(ps1, objid, -999),
        "sgscore1": np.where(ps1, rows["sgscore"], -999.0),
        "distpsnr1": np.where(ps1, rows["distnr"] * (0.9 + 0.2 * o(3)), -999.0),
        "sgmag1": np.where(ps1 & (r1 < 22.3), r1 + 0.5, -999.0),
        "srmag1": np.where(ps1, r1, -999.0),
        "simag1": np.where(ps1, r1 - 0.2, -999.0),
        "szmag1": np.where(ps1, r1 - 0.3, -999.0),
    }
    for k in (2, 3):
        mag = 17.0 + 5.5 * o(10 * k)
        out |= {
            f"objectidps{k}": objid + k * 137 * 10**4,
            f"sgscore{k}": o(10 * k + 1),
            f"distpsnr{k}": 2.0 + 10.0 * (k - 1) * o(10 * k + 2) + 2.0 * k,
            f"sgmag{k}": np.where(mag < 21.8, mag + 0.6, -999.0),
            f"srmag{k}": mag,
            f"simag{k}": mag - 0.3,
            f"szmag{k}": mag - 0.4,
        }
    gaia = star & (rows["magnr"] < 20.7)
    bright = o(5) < 0.5
    jdstartref = 2458150.0 + 500.0 * ref(1)
    dsnrms = np.exp(np.log(15.0) + 0.9 * normal(seed, 911, field, fid))
    ssnrms = dsnrms + np.exp(np.log(12.0) + 0.8 * normal(seed, 912, field, fid))
    clrcoeff_base = np.where(fid == 1, 0.45, 0.2)
    return out | {
        "nmtchps": 1 + (o(6) * 14).astype(np.int64),
        "rfid": field * 1_000_000 + 120_000 + fid * 100 + rows["rcid"],
        "jdstartref": jdstartref,
        "jdendref": jdstartref + 20.0 + 200.0 * ref(2),
        "nframesref": 15 + (ref(3) ** 3 * 30).astype(np.int64),
        "rbversion": [RB_VERSION] * n,
        "dsnrms": dsnrms,
        "ssnrms": ssnrms,
        "dsdiff": dsnrms - ssnrms,
        "nmatches": 400 + (2000 * v(1)).astype(np.int64),
        "zpclrcov": -1e-6 - 3e-6 * v(2),
        "zpmed": rows["magzpsci"] + 0.05 * (v(3) - 0.5),
        "clrmed": clrcoeff_base + 0.5 + 0.4 * v(4),
        "clrrms": 0.12 + 0.22 * v(5),
        "neargaia": np.where(gaia, rows["distnr"] * (0.9 + 0.2 * o(7)), 1.0 + 60.0 * o(7)),
        "maggaia": np.where(gaia, rows["magnr"] + 0.25, 13.0 + 7.5 * o(8)),
        "neargaiabright": np.where(bright, 5.0 + 85.0 * o(9), -999.0),
        "maggaiabright": np.where(bright, 8.0 + 6.0 * o(11), -999.0),
        "exptime": np.full(n, 30.0),
        "drbversion": [DRB_VERSION] * n,
        "tooflag": np.zeros(n, dtype=np.int64),
    }


def forced_fields(seed: int, rows: Table) -> Columns:
    """fp_hists values: forced PSF photometry at the object's position in every recent exposure."""
    n = len(rows["vid"])
    to_dn = np.power(10.0, 0.4 * (rows["magzpsci"] - ZP))
    level = np.exp(np.log(200.0) + 0.35 * normal(seed, 830, rows["vid"], rows["rcid"]))
    return {
        "field": rows["field"],
        "rcid": rows["rcid"],
        "fid": rows["fid"],
        "pid": pid_of(rows),
        "rfid": rows["field"] * 1_000_000 + 120_000 + rows["fid"] * 100 + rows["rcid"],
        "sciinpseeing": rows["seeing"],
        "scibckgnd": level,
        "scisigpix": 0.5 * np.sqrt(level) + 2.0,
        "exptime": np.full(n, 30.0),
        "adpctdif1": 0.05 + 0.15 * uniform(seed, 831, rows["vid"]),
        "adpctdif2": 0.05 + 0.15 * uniform(seed, 832, rows["vid"]),
        "diffmaglim": rows["diffmaglim"],
        "programid": np.ones(n, dtype=np.int64),
        "jd": rows["jd"],
        "forcediffimflux": rows["flux"] * to_dn,
        "forcediffimfluxunc": rows["sigflux"] * to_dn,
        "procstatus": ["0"] * n,
        "distnr": rows["distnr"],
        "ranr": rows["ra"],
        "decnr": rows["dec"],
        "magnr": rows["magnr"],
        "sigmagnr": np.clip(0.01 + 0.03 * 10 ** (0.4 * (rows["magnr"] - 20.0)), 0.01, 0.4),
        "chinr": np.exp(0.7 * normal(seed, 701, rows["hid"])),
        "sharpnr": 0.15 * normal(seed, 702, rows["hid"]),
        **calibration(seed, rows),
    }
