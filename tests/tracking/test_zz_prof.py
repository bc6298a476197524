import asyncio, time
import httpx
from plugin.tracking.handoff import current_handoff
from plugin.tracking.models import TrackingEvent
from tests.tracking.tracked_mail import make_tracked_mail, wait_until

async def test_prof(server, make_user, settings):
    user = await make_user()
    mail = await make_tracked_mail(settings, user.id)
    h = current_handoff()
    total = 1000
    gate = asyncio.Semaphore(64)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=server, limits=httpx.Limits(max_connections=64), timeout=60) as client:
        async def hit(i):
            async with gate:
                return (await client.get(mail.open_path(), headers={"User-Agent": f"Load/{i} (x)"})).status_code
        await asyncio.gather(*(hit(i) for i in range(total)))
    t1 = time.perf_counter()
    print("HTTP", t1 - t0, "batches", h.batches)
    async def done():
        return await TrackingEvent.filter(email_id=mail.email.id).count() >= total
    await wait_until(done, 120)
    print("STORE", time.perf_counter() - t1)
